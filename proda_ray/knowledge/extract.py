"""Per-chunk extraction, top-down: L3 chains -> L2 statements -> L1 concept mentions.

Pure of Ray: chunks and an engine in, rows and rejections out. Each level is one batch of
requests across all chunks of a work unit, so HTTP engines see real concurrency. Every drop
is a ``Rejection`` with the level (``l3``/``l2``/``l1``) as its step and a reason:
engine failures (``timeout``, ``connection_error``, ``invalid_json``, ``schema_mismatch``,
``empty_output``, ``context_overflow``…), ``ungrounded_quote``, ``duplicate_statement``,
``chain_without_statements``, ``unlinked_term``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources

from proda_ray.engines import Engine, GenerationRequest, SamplingParams, generate_json
from proda_ray.ids import make_id
from proda_ray.knowledge.config import ExtractConfig
from proda_ray.knowledge.grounding import locate_quote, phrases, sentences
from proda_ray.knowledge.schemas import (
    chains_schema,
    concepts_fill_schema,
    concepts_schema,
    pair_statement_schema,
    statements_schema,
)
from proda_ray.spec.records import Rejection

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "by", "with", "is",
         "are", "its", "it", "that", "this", "at", "as", "from"}


def prompt(name: str) -> str:
    return resources.files("proda_ray.knowledge.prompts").joinpath(f"{name}.txt").read_text()


@dataclass
class Extraction:
    chains: list[dict] = field(default_factory=list)
    statements: list[dict] = field(default_factory=list)
    mentions: list[dict] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)


def _reason(err: str) -> tuple[str, str]:
    reason, _, detail = err.partition(": ")
    return reason, detail


def _words(s: str) -> set[str]:
    return {w for w in _WORD.findall(s.lower()) if w not in _STOP}


def extract_chunks_safely(chunks: list[dict], engine: Engine, cfg: ExtractConfig
                          ) -> Extraction:
    """``extract_chunks``, but an unexpected error costs only its chunk (``extract_error``).

    The batch is tried whole; if it raises, chunks are retried one by one (their finished
    calls come from the cache) and a chunk that still raises becomes a rejection.
    """
    try:
        return extract_chunks(chunks, engine, cfg)
    except Exception:
        merged = Extraction()
        for c in chunks:
            try:
                one = extract_chunks([c], engine, cfg)
            except Exception as e:
                one = Extraction(counters=Counter(chunks=1))
                one.rejected.append(_reject(c, "extract", f"extract_error: "
                                            f"{type(e).__name__}: {e}", c["chunk_id"], None))
                one.counters["rejected:extract:extract_error"] += 1
            merged.chains += one.chains
            merged.statements += one.statements
            merged.mentions += one.mentions
            merged.rejected += one.rejected
            merged.counters.update(one.counters)
        return merged


def extract_chunks(chunks: list[dict], engine: Engine, cfg: ExtractConfig) -> Extraction:
    """Extract the knowledge of ``chunks`` (rows of the ``chunks`` table)."""
    out = Extraction()
    params = lambda n: SamplingParams(max_tokens=n, temperature=cfg.temperature,  # noqa: E731
                                      seed=cfg.seed)
    # --- L3: reasoning chains --------------------------------------------------------------
    extractive = cfg.extractive()
    # candidate step sentences, split once per chunk (extractive mode only)
    step_choices = {c["chunk_id"]: _step_choices(c["text"]) for c in chunks} if extractive else {}
    if extractive:  # a chunk without real sentences cannot hold an extractive chain
        for c in chunks:
            if len(step_choices[c["chunk_id"]]) < 2:
                out.counters["chunks"] += 1
                out.rejected.append(_reject(c, "l3", "no_step_sentences: fewer than two "
                                            "sentences of 6+ words to build a chain from",
                                            c["chunk_id"], c["text"][:200]))
        chunks = [c for c in chunks if len(step_choices[c["chunk_id"]]) >= 2]
    l3_reqs = []
    for c in chunks:
        choices = step_choices.get(c["chunk_id"])
        names = _name_choices(c) if extractive else None
        schema = chains_schema(cfg.max_chains_per_chunk, cfg.min_steps, cfg.max_steps, choices,
                               names)
        l3_reqs.append(GenerationRequest(prompt("l3_chains").replace("{chunk}", c["text"]),
                                         params(cfg.max_tokens_l3), schema))
    l3 = generate_json(engine, l3_reqs, cfg.retries)
    chains: list[tuple[dict, dict]] = []  # (chunk, chain row)
    for chunk, res in zip(chunks, l3, strict=True):
        out.counters["chunks"] += 1
        if res.error:
            out.rejected.append(_reject(chunk, "l3", res.error, chunk["chunk_id"], res.raw))
            continue
        seen = set()
        chunk_words = _words(chunk["text"])
        choices = step_choices.get(chunk["chunk_id"], [])
        for ch in res.value["chains"]:
            steps = (_window(choices, ch["first_step"], ch["last_step"], cfg) if extractive
                     else list(dict.fromkeys(s.strip() for s in ch["steps"] if s.strip())))
            key = tuple(s.lower() for s in steps)
            support = step_support(steps, chunk_words)
            error = None
            if len(steps) < cfg.min_steps:
                error = "too_few_steps: fewer non-empty steps than min_steps"
            elif key in seen:
                error = "duplicate_chain: same steps twice"
            elif support < cfg.min_step_support:
                error = (f"ungrounded_chain: only {support:.0%} of the steps' words are in "
                         "the chunk")
            if error:
                out.rejected.append(_reject(chunk, "l3", error, None,
                                            f"{ch['process_name']}: {' / '.join(steps)}"))
                continue
            seen.add(key)
            chain_id = make_id("chain", chunk["chunk_id"], ch["process_name"].strip().lower(),
                               *steps)
            chains.append((chunk, {
                "chain_id": chain_id, "chunk_id": chunk["chunk_id"], "doc_id": chunk["doc_id"],
                "discipline_code": chunk.get("discipline_code"),
                "domain_context": chunk.get("discipline"), "process_name": ch["process_name"],
                "narrative_summary": ch["narrative_summary"],
                "preconditions": ch["preconditions"],
                "negative_constraints": ch["negative_constraints"], "steps": steps,
                "statement_ids": []}))
    out.counters["chains_proposed"] += len(chains)

    # --- L2: grounded statements -----------------------------------------------------------
    proposals = (_pair_statements(chains, engine, cfg, params) if extractive
                 else _chain_statements(chains, engine, cfg, params))
    kept_chains: list[tuple[dict, dict, list[dict]]] = []
    for (chunk, chain), (proposed, error, raw) in zip(chains, proposals, strict=True):
        if error:
            out.rejected.append(_reject(chunk, "l2", error, chain["chain_id"], raw))
            continue
        stmts = _statements(chunk, chain, proposed, out)
        if not stmts:
            out.rejected.append(_reject(chunk, "l2", "chain_without_statements: no statement "
                                        "of this chain was grounded", chain["chain_id"],
                                        chain["process_name"]))
            continue
        chain["statement_ids"] = [s["statement_id"] for s in stmts]
        kept_chains.append((chunk, chain, stmts))
        out.chains.append(chain)
        out.statements += stmts

    # --- L1: concept mentions --------------------------------------------------------------
    l1_reqs = []
    for _chunk, _chain, stmts in kept_chains:
        if extractive:  # L1 = the statements' subjects and objects; the model defines them
            terms = _terms(stmts)[: cfg.max_concepts_per_chain]
            listing = "\n".join(f"- {s['subject']} | {s['predicate']} | {s['object']}"
                                for s in stmts)
            l1_reqs.append(GenerationRequest(
                prompt("l1_fill").replace("{statements}", listing), params(cfg.max_tokens_l1),
                concepts_fill_schema(terms)))
            continue
        listing = "\n".join(f"{i}. {s['subject']} | {s['predicate']} | {s['object']}"
                            for i, s in enumerate(stmts))
        l1_reqs.append(GenerationRequest(
            prompt("l1_concepts").replace("{statements}", listing), params(cfg.max_tokens_l1),
            concepts_schema(len(stmts), cfg.max_concepts_per_chain)))
    l1 = generate_json(engine, l1_reqs, cfg.retries)
    for (chunk, chain, stmts), res in zip(kept_chains, l1, strict=True):
        if res.error:
            out.rejected.append(_reject(chunk, "l1", res.error, chain["chain_id"], res.raw))
            continue
        named: set[str] = set()
        for c in res.value["concepts"]:
            if c["term"].strip().lower() in named:
                out.rejected.append(_reject(chunk, "l1", "duplicate_concept: the same term "
                                            "twice for one chain", chain["chain_id"], c["term"]))
                continue
            named.add(c["term"].strip().lower())
            cited = c["statements"] if "statements" in c else [  # fill mode: where it is named
                i for i, s in enumerate(stmts) if c["term"] in (s["subject"], s["object"])]
            refs = sorted({i for i in cited if 0 <= i < len(stmts)})
            linked = [stmts[i] for i in refs]
            names = set().union(*(_words(s["subject"]) | _words(s["object"]) for s in linked)) \
                if linked else set()
            if not refs or not (_words(c["term"]) & names):
                out.rejected.append(_reject(
                    chunk, "l1", f"unlinked_term: {c['term']!r} is not named in the "
                    "statements it cites", chain["chain_id"], c["term"]))
                continue
            out.mentions.append({
                "term": c["term"].strip(), "type": c["type"], "definition": c["definition"],
                "statement_ids": [s["statement_id"] for s in linked],
                "chain_id": chain["chain_id"], "chunk_id": chunk["chunk_id"],
                "discipline_code": chunk.get("discipline_code")})
    for r in out.rejected:
        out.counters[f"rejected:{r.step}:{r.reason}"] += 1
    out.counters["chains"] += len(out.chains)
    out.counters["statements"] += len(out.statements)
    out.counters["mentions"] += len(out.mentions)
    return out


def _chain_statements(chains, engine, cfg, params) -> list[tuple[list, str | None, str]]:
    """Abstractive L2: one call per chain, statements for all adjacent step pairs."""
    reqs = []
    for chunk, chain in chains:
        sents = [s.text for s in sentences(chunk["text"])]
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(chain["steps"]))
        text = (prompt("l2_statements").replace("{steps}", steps)
                .replace("{sentences}", "\n".join(f"- {s}" for s in sents)))
        schema = statements_schema(len(chain["steps"]),
                                   sents if cfg.constrain_quotes and sents else None)
        reqs.append(GenerationRequest(text, params(cfg.max_tokens_l2), schema))
    return [(r.value["statements"] if r.value else [], r.error, r.raw)
            for r in generate_json(engine, reqs, cfg.retries)]


def _pair_statements(chains, engine, cfg, params) -> list[tuple[list, str | None, str]]:
    """Extractive L2: one call per adjacent step pair; the subject is a phrase of step i,
    the object a phrase of step i+1, the quote one of the two (chunk) sentences."""
    reqs, owners = [], []
    for ci, (_chunk, chain) in enumerate(chains):
        steps = chain["steps"]
        for i in range(len(steps) - 1):
            subj, obj = phrases(steps[i]), phrases(steps[i + 1])
            if not subj or not obj:
                continue
            text = (prompt("l2_pair").replace("{first}", steps[i])
                    .replace("{second}", steps[i + 1]))
            reqs.append(GenerationRequest(text, params(min(cfg.max_tokens_l2, 160)),
                                          pair_statement_schema(subj, obj, [steps[i],
                                                                            steps[i + 1]])))
            owners.append((ci, i))
    found: list[list] = [[] for _ in chains]
    errors: list[list[str]] = [[] for _ in chains]
    for (ci, i), r in zip(owners, generate_json(engine, reqs, cfg.retries), strict=True):
        if r.value:
            found[ci].append({**r.value, "step": i})
        else:
            errors[ci].append(r.error or "empty_output: no statement")
    # a chain fails as a whole only when every one of its pairs failed
    return [(found[ci], errors[ci][0] if errors[ci] and not found[ci] else None,
             "; ".join(errors[ci])) for ci in range(len(chains))]


def _step_choices(text: str, limit: int = 60) -> list[str]:
    """Sentences that can be steps: real sentences (>= 6 words, terminal punctuation)."""
    return [x.text for x in sentences(text)
            if len(x.text.split()) >= 6 and x.text.rstrip("\"')]").endswith((".", "!", "?"))
            ][:limit]


def _name_choices(chunk: dict, limit: int = 40) -> list[str]:
    """Process names a small model may choose: the chunk's headings, then its phrases."""
    names = [h for h in (chunk.get("section_path") or []) if h]
    for sent in sentences(chunk["text"])[:12]:
        names += [p for p in phrases(sent.text) if len(p.split()) >= 2]
    return list(dict.fromkeys(names))[:limit] or ["(unnamed process)"]


def _terms(stmts: list[dict]) -> list[str]:
    """Subjects and objects in order of first appearance, case-insensitively unique."""
    seen: dict[str, str] = {}
    for s in stmts:
        for t in (s["subject"], s["object"]):
            seen.setdefault(t.lower(), t)
    return list(seen.values())


def _window(choices: list[str], first: str, last: str, cfg: ExtractConfig) -> list[str]:
    """The sentences from ``first`` to ``last`` (text order), within [min_steps, max_steps]."""
    a, b = sorted((choices.index(first), choices.index(last)))
    b = max(b, min(len(choices) - 1, a + cfg.min_steps - 1))
    return choices[a : min(b + 1, a + cfg.max_steps)]


def step_support(steps: list[str], chunk_words: set[str]) -> float:
    """Mean share of each step's content words that occur in the chunk."""
    shares = [len(w & chunk_words) / len(w) for w in map(_words, steps) if w]
    return sum(shares) / len(shares) if shares else 0.0


def _statements(chunk: dict, chain: dict, proposed: list[dict], out: Extraction) -> list[dict]:
    rows, seen = [], set()
    n = len(chain["steps"])
    for st in proposed:
        out.counters["statements_proposed"] += 1
        s, p, o = (st[k].strip() for k in ("subject", "predicate", "object"))
        key = (s.lower(), p.lower(), o.lower())
        where = locate_quote(st["source_quote"], chunk["text"])
        if not (0 <= st["step"] < n - 1) or not (s and p and o):
            reason = "invalid_statement: empty field or step out of range"
        elif s.lower() == o.lower():
            reason = "self_loop: the subject and the object are the same"
        elif where is None:
            reason = "ungrounded_quote: the quote is not in the chunk text"
        elif not (_words(s) | _words(o)) & _words(st["source_quote"]):
            reason = "quote_mismatch: the quote names neither the subject nor the object"
        elif key in seen:
            reason = "duplicate_statement: same triple twice in one chain"
        else:
            seen.add(key)
            start, end, how = where
            out.counters[f"grounding:{how}"] += 1
            rows.append({
                "statement_id": make_id("stmt", chain["chain_id"], str(st["step"]), *key),
                "chain_id": chain["chain_id"], "chunk_id": chunk["chunk_id"],
                "doc_id": chunk["doc_id"], "step_index": st["step"], "subject": s,
                "predicate": p, "object": o, "source_quote": chunk["text"][start:end],
                "quote_char_start": start, "quote_char_end": end, "grounding": how,
                "concept_ids": []})
            continue
        out.rejected.append(_reject(chunk, "l2", reason, chain["chain_id"],
                                    f"{s} | {p} | {o} | {st['source_quote']}"))
    return rows


def _reject(chunk: dict, step: str, err: str, node_id: str | None, raw: str | None
            ) -> Rejection:
    reason, detail = _reason(err)
    return Rejection(chunk.get("source_path"), step, reason, detail=detail,
                     id=node_id or chunk["chunk_id"], preview=raw)
