"""Per-chunk extraction: chunk role -> grounded miner -> engine choices -> semantic gates.

Pure of Ray: chunks and an engine in, rows and rejections out.

1. Every chunk gets a role (``roles.chunk_role``). Only ``expository`` chunks are mined for
   chains and statements; ``glossary`` chunks give concepts from their lines; the others are
   rejected as ``chunk_role_<role>`` (counted, the chunk stays in the corpus).
2. The miner (``miner.mine``) proposes candidates from the text itself: definitions (L1),
   relation sentences (L2) and ordered procedures (L3), all verbatim.
3. The engine chooses: a chain's name among the text's process phrases and each concept's
   type among the concept types (one short constrained call each; with the local 270M base
   model this is all it does). Capable engines (``abstractive`` mode) also propose chains,
   statements and concepts of their own, with the mined candidates as hints.
4. Every node, mined or generated, passes ``gates``; a failed gate is a counted rejection.

Rejection steps: ``role``, ``l3``, ``l2``, ``l1``, ``extract``; reasons include engine
failures (``timeout``, ``connection_error``, ``invalid_json``, ``schema_mismatch``…),
``ungrounded_quote``, ``junk_text``, ``not_noun_phrase``, ``not_verb_phrase``,
``not_the_relation``, ``contradicts_quote``, ``bad_term``, ``unsupported_definition``,
``not_a_process``, ``bad_process_name``, ``duplicate_*``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources

from proda_ray.engines import Engine, GenerationRequest, SamplingParams, generate_json
from proda_ray.engines.base import EngineUnavailable
from proda_ray.ids import make_id
from proda_ray.knowledge import gates
from proda_ray.knowledge.config import ExtractConfig
from proda_ray.knowledge.grounding import locate_quote
from proda_ray.knowledge.miner import mine
from proda_ray.knowledge.roles import chunk_role
from proda_ray.knowledge.schemas import (
    CONCEPT_TYPES,
    chains_schema,
    choice_schema,
    concepts_schema,
    statements_schema,
)
from proda_ray.workspace.rejections import Rejection

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
    except EngineUnavailable:  # the engine is down: the stage fails, not the chunks
        raise
    except Exception:
        merged = Extraction()
        for c in chunks:
            try:
                one = extract_chunks([c], engine, cfg)
            except EngineUnavailable:
                raise
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


@dataclass
class _Work:
    chunk: dict
    role: str
    mined: object
    chains: list[dict] = field(default_factory=list)
    statements: list[dict] = field(default_factory=list)
    concepts: list[dict] = field(default_factory=list)


def extract_chunks(chunks: list[dict], engine: Engine, cfg: ExtractConfig) -> Extraction:
    """Extract the knowledge of ``chunks`` (rows of the ``chunks`` table)."""
    out = Extraction()
    params = lambda n: SamplingParams(max_tokens=n, temperature=cfg.temperature,  # noqa: E731
                                      seed=cfg.seed)
    work: list[_Work] = []
    for c in chunks:
        out.counters["chunks"] += 1
        role, why = chunk_role(c["text"], list(c.get("section_path") or []))
        out.counters[f"role:{role}"] += 1
        if role not in ("expository", "glossary"):
            out.rejected.append(_reject(c, "role", f"chunk_role_{role}: {why}", c["chunk_id"],
                                        c["text"][:200]))
            continue
        work.append(_Work(c, role, mine(c["text"], list(c.get("section_path") or []), role)))

    # --- L3: mined procedures, named by the engine's choice among the text's phrases --------
    name_reqs, name_owners = [], []
    for w in work:
        for p in w.mined.procedures if "l3" in cfg.levels else []:
            steps = [s.text for s in p["steps"]][: cfg.max_steps + 2]
            names = p["names"]
            if not names:
                out.rejected.append(_reject(w.chunk, "l3", "bad_process_name: no phrase of "
                                            "the text names this process", None,
                                            " / ".join(steps)))
                continue
            p["kept_steps"] = steps
            if len(names) == 1:
                p["name"] = names[0]
                continue
            listing = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(steps))
            name_reqs.append(GenerationRequest(
                prompt("l3_name").replace("{steps}", listing), params(48),
                choice_schema("process_name", names)))
            name_owners.append(p)
    for p, res in zip(name_owners, generate_json(engine, name_reqs, cfg.retries),
                      strict=True):
        out.counters["engine:name_choices"] += 1
        out.counters["tokens:l3"] += _tokens(res)
        p["name"] = res.value["process_name"] if res.value else p["names"][0]
        if res.error:
            out.counters["engine:name_fallbacks"] += 1
    for w in work:
        seen = set()
        for p in w.mined.procedures:
            if "name" not in p:
                continue
            steps = p["kept_steps"]
            err = gates.chain_gate(steps, p["positions"][: len(steps)],
                                   p["links"][: len(steps)], p["name"], _with_headings(w.chunk),
                                   [w.mined.docs.get(s) for s in steps])
            key = tuple(s.lower() for s in steps)
            if not err and key in seen:
                err = "duplicate_chain: same steps twice"
            if err:
                out.rejected.append(_reject(w.chunk, "l3", err, None,
                                            f"{p['name']}: {' / '.join(steps)}"))
                continue
            seen.add(key)
            w.chains.append(_chain_row(w.chunk, p["name"], steps, p, w.mined))
    if not cfg.extractive() and "l3" in cfg.levels:
        _abstractive_chains(work, engine, cfg, params, out)

    # --- L2: mined relation sentences (+ the engine's, abstractive) ---------------------------
    for w in work:
        # a statement belongs to a chain when its sentence lies within the chain's text (a
        # step, or a sentence of a numbered step after its first): step = the step above it
        by_sentence = {}
        for ch in w.chains:
            starts = [w.chunk["text"].find(s) for s in ch["steps"]]
            end = starts[-1] + len(ch["steps"][-1])
            for s in w.mined.sentences:
                if starts[0] <= s.start < end and s.text not in by_sentence:
                    step = max(i for i, a in enumerate(starts) if a <= s.start)
                    by_sentence[s.text] = (ch, step)
        seen: set = set()
        for r in w.mined.relations if "l2" in cfg.levels else []:
            _add_statement(w, r, by_sentence, seen, out, w.mined.docs.get(r["source_quote"]))
    if not cfg.extractive() and "l2" in cfg.levels:
        _abstractive_statements(work, engine, cfg, params, out)
    for w in work:
        for ch in w.chains:
            ch["statement_ids"] = [s["statement_id"] for s in w.statements
                                   if s["chain_id"] == ch["chain_id"]]

    # --- L1: mined definitions, typed by the engine ----------------------------------------
    for w in work:
        named: set[str] = set()
        for d in w.mined.definitions if "l1" in cfg.levels else []:
            err = gates.concept_gate(d["term"], d["definition"], d["source_quote"])
            if not err and d["term"].lower() in named:
                err = "duplicate_concept: the same term twice in one chunk"
            if err:
                out.rejected.append(_reject(w.chunk, "l1", err, None,
                                            f"{d['term']}: {d['source_quote'][:150]}"))
                continue
            named.add(d["term"].lower())
            w.concepts.append(dict(d))
    if not cfg.extractive() and "l1" in cfg.levels:
        _abstractive_concepts(work, engine, cfg, params, out)
    type_reqs, type_owners = [], []
    for w in work:
        todo = [c for c in w.concepts if not c.get("type")]
        for i in range(0, len(todo), 8):
            part = todo[i : i + 8]
            listing = "\n".join(f"- {c['term']}: {c['definition'][:160]}" for c in part)
            type_reqs.append(GenerationRequest(
                prompt("l1_types").replace("{concepts}", listing), params(24 * len(part)),
                _types_schema([c["term"] for c in part])))
            type_owners.append(part)
    for part, res in zip(type_owners, generate_json(engine, type_reqs, cfg.retries),
                         strict=True):
        out.counters["engine:type_choices"] += 1
        out.counters["tokens:l1"] += _tokens(res)
        chosen = [x["type"] for x in res.value["concepts"]] if res.value else []
        for i, c in enumerate(part):
            c["type"] = chosen[i] if i < len(chosen) else "concept"
        if res.error:
            out.counters["engine:type_fallbacks"] += 1
    for w in work:
        for c in w.concepts:
            pat = re.compile(r"\b" + re.escape(c["term"].lower()) + r"\b")
            linked = [s["statement_id"] for s in w.statements
                      if pat.search(s["subject"].lower()) or pat.search(s["object"].lower())]
            out.mentions.append({
                "term": c["term"], "type": c.get("type") or "concept",
                "definition": c["definition"], "source_quote": c["source_quote"],
                "origin": c["origin"], "statement_ids": linked,
                "chain_id": next((ch["chain_id"] for ch in w.chains
                                  if c["source_quote"] in ch["steps"]), None),
                "chunk_id": w.chunk["chunk_id"], "doc_id": w.chunk.get("doc_id"),
                "discipline_code": w.chunk.get("discipline_code")})
        out.chains += w.chains
        out.statements += w.statements
    for r in out.rejected:
        out.counters[f"rejected:{r.step}:{r.reason}"] += 1
    out.counters["chains"] += len(out.chains)
    out.counters["statements"] += len(out.statements)
    out.counters["mentions"] += len(out.mentions)
    for key, rows in (("chains", out.chains), ("statements", out.statements),
                      ("mentions", out.mentions)):
        out.counters[f"mined:{key}"] += sum(r.get("origin") != "engine" for r in rows)
    return out


def _with_headings(chunk: dict) -> str:
    """The chunk's text and the headings of its section: a process may be named by the
    heading of the section that describes it ("Polymerase Chain Reaction")."""
    return "\n".join([chunk["text"], *(h for h in chunk.get("section_path") or [] if h)])


def _tokens(res) -> int:
    """Tokens this run spent on one JSON result (cached calls cost nothing)."""
    return sum(c.prompt_tokens + c.completion_tokens for c in res.results if not c.cached)


def _chain_row(chunk: dict, name: str, steps: list[str], cand: dict, mined) -> dict:
    pre, neg = [], []
    lo = min(cand["positions"]) - 2
    hi = max(cand["positions"]) + 2
    for k, s in enumerate(mined.sentences):
        if not (lo <= k <= hi) or s.text in steps:
            continue
        low = s.text.lower()
        if re.search(r"\b(requires?|must|needs?|only if|depends? on|in the presence of)\b",
                     low) and not gates.junk_text(s.text):
            pre.append(s.text)
        if re.search(r"\b(cannot|can't|does not|do not|never|without|unless)\b", low) and \
                not gates.junk_text(s.text):
            neg.append(s.text)
    context = next((t for t in cand.get("context", []) if t and t not in steps), "")
    return {
        "chain_id": make_id("chain", chunk["chunk_id"], name.strip().lower(), *steps),
        "chunk_id": chunk["chunk_id"], "doc_id": chunk["doc_id"],
        "discipline_code": chunk.get("discipline_code"), "domain_context": chunk.get(
            "discipline"), "process_name": name, "narrative_summary": context,
        "preconditions": pre[:3], "negative_constraints": neg[:3], "steps": steps,
        "statement_ids": [], "origin": cand.get("origin", "engine")}


def _add_statement(w: _Work, r: dict, by_sentence: dict, seen: set, out: Extraction,
                   doc=None) -> None:
    s, p, o, quote = (r[k].strip() for k in ("subject", "predicate", "object",
                                             "source_quote"))
    out.counters["statements_proposed"] += 1
    where = locate_quote(quote, w.chunk["text"])
    key = (s.lower(), p.lower(), o.lower())
    if where is None:
        err = "ungrounded_quote: the quote is not in the chunk text"
    else:
        err = gates.statement_gate(s, p, o, quote, doc)
    if not err and key in seen:
        err = "duplicate_statement: same triple twice in one chunk"
    if err:
        out.rejected.append(_reject(w.chunk, "l2", err, None, f"{s} | {p} | {o} | {quote}"))
        return
    seen.add(key)
    start, end, how = where
    out.counters[f"grounding:{how}"] += 1
    quote_text = w.chunk["text"][start:end]
    ch, step = by_sentence.get(quote_text, (None, None))
    w.statements.append({
        "statement_id": make_id("stmt", w.chunk["chunk_id"], quote_text, *key),
        "chain_id": ch["chain_id"] if ch else None, "chunk_id": w.chunk["chunk_id"],
        "doc_id": w.chunk["doc_id"], "discipline_code": w.chunk.get("discipline_code"),
        "step_index": step, "subject": s, "predicate": p, "object": o,
        "source_quote": quote_text, "quote_char_start": start, "quote_char_end": end,
        "grounding": how, "origin": r.get("origin", "engine"), "concept_ids": []})


# --- abstractive mode (capable engines): the engine proposes, the same gates decide --------

def _snap(step: str, sents: list) -> int | None:
    """Index of the chunk sentence a generated step restates (>= 60% of its words)."""
    sw = _words(step)
    best, score = None, 0.0
    for i, s in enumerate(sents):
        share = len(sw & _words(s.text)) / max(1, len(sw))
        if share > score:
            best, score = i, share
    return best if score >= 0.6 else None


def _abstractive_chains(work, engine, cfg, params, out) -> None:
    reqs, owners = [], []
    for w in work:
        if w.role != "expository":
            continue
        hints = "\n".join(f"- {p.get('name', '?')}: " + " / ".join(s.text for s in p["steps"])
                          for p in w.mined.procedures)
        text = prompt("l3_chains").replace("{chunk}", w.chunk["text"] + (
            f"\n\nCandidate processes found in the text:\n{hints}" if hints else ""))
        reqs.append(GenerationRequest(text, params(cfg.max_tokens_l3), chains_schema(
            cfg.max_chains_per_chunk, cfg.min_steps, cfg.max_steps)))
        owners.append(w)
    for w, res in zip(owners, generate_json(engine, reqs, cfg.retries), strict=True):
        if res.error:
            out.rejected.append(_reject(w.chunk, "l3", res.error, w.chunk["chunk_id"], res.raw))
            continue
        have = {tuple(c["steps"]) for c in w.chains}
        for ch in res.value["chains"]:
            idx = [_snap(s, w.mined.sentences) for s in ch["steps"]]
            if any(i is None for i in idx):
                out.rejected.append(_reject(w.chunk, "l3", "not_a_process: a step restates "
                                            "no sentence of the chunk", None,
                                            f"{ch['process_name']}: {' / '.join(ch['steps'])}"))
                continue
            steps = [w.mined.sentences[i].text for i in idx]
            links = [""] + ["engine"] * (len(steps) - 1)
            # a capable engine may join sentences the miner did not: the steps must still be
            # whole sentences in source order, and the name a process phrase of the text
            err = gates.chain_gate(steps, idx, links, ch["process_name"],
                                   _with_headings(w.chunk), [w.mined.docs.get(s) for s in steps])
            if not err and tuple(steps) in have:
                err = "duplicate_chain: same steps twice"
            if err:
                out.rejected.append(_reject(w.chunk, "l3", err, None,
                                            f"{ch['process_name']}: {' / '.join(steps)}"))
                continue
            have.add(tuple(steps))
            w.chains.append(_chain_row(w.chunk, ch["process_name"], steps,
                                       {"positions": idx, "origin": "engine"}, w.mined))


def _abstractive_statements(work, engine, cfg, params, out) -> None:
    reqs, owners = [], []
    for w in work:
        for ch in w.chains:
            sents = [s.text for s in w.mined.sentences]
            steps = "\n".join(f"{i}. {s}" for i, s in enumerate(ch["steps"]))
            text = (prompt("l2_statements").replace("{steps}", steps)
                    .replace("{sentences}", "\n".join(f"- {s}" for s in sents)))
            reqs.append(GenerationRequest(text, params(cfg.max_tokens_l2), statements_schema(
                len(ch["steps"]), sents if cfg.constrain_quotes and sents else None)))
            owners.append((w, ch))
    for (w, ch), res in zip(owners, generate_json(engine, reqs, cfg.retries), strict=True):
        if res.error:
            out.rejected.append(_reject(w.chunk, "l2", res.error, ch["chain_id"], res.raw))
            continue
        by_sentence = {s: (ch, i) for i, s in enumerate(ch["steps"])}
        seen = {(s["subject"].lower(), s["predicate"].lower(), s["object"].lower())
                for s in w.statements}
        for st in res.value["statements"]:
            _add_statement(w, {**st, "origin": "engine"}, by_sentence, seen, out)


def _abstractive_concepts(work, engine, cfg, params, out) -> None:
    reqs, owners = [], []
    for w in work:
        if not w.statements:
            continue
        listing = "\n".join(f"{i}. {s['subject']} | {s['predicate']} | {s['object']}"
                            for i, s in enumerate(w.statements))
        reqs.append(GenerationRequest(
            prompt("l1_concepts").replace("{statements}", listing), params(cfg.max_tokens_l1),
            concepts_schema(len(w.statements), cfg.max_concepts_per_chain)))
        owners.append(w)
    for w, res in zip(owners, generate_json(engine, reqs, cfg.retries), strict=True):
        if res.error:
            out.rejected.append(_reject(w.chunk, "l1", res.error, w.chunk["chunk_id"], res.raw))
            continue
        named = {c["term"].lower() for c in w.concepts}
        for c in res.value["concepts"]:
            term = c["term"].strip()
            # the definition must be supported by a sentence of the chunk that names the term
            source = max((s.text for s in w.mined.sentences if term.lower() in s.text.lower()),
                         key=lambda t: len(_words(t) & _words(c["definition"])), default="")
            err = gates.concept_gate(term, c["definition"], source)
            if not err and term.lower() in named:
                err = "duplicate_concept: the same term twice in one chunk"
            if err:
                out.rejected.append(_reject(w.chunk, "l1", err, None,
                                            f"{term}: {c['definition'][:150]}"))
                continue
            named.add(term.lower())
            w.concepts.append({"term": term, "type": c["type"], "definition": c["definition"],
                               "source_quote": source, "origin": "engine"})


def _types_schema(terms: list[str]) -> dict:
    items = [{"type": "object", "properties": {"term": {"const": t}, "type": {
        "type": "string", "enum": CONCEPT_TYPES}}, "required": ["term", "type"],
        "additionalProperties": False} for t in terms]
    return {"type": "object", "properties": {"concepts": {
        "type": "array", "prefixItems": items, "items": False, "minItems": len(terms),
        "maxItems": len(terms)}}, "required": ["concepts"], "additionalProperties": False}


def _reject(chunk: dict, step: str, err: str, node_id: str | None, raw: str | None
            ) -> Rejection:
    reason, detail = _reason(err)
    return Rejection(chunk.get("source_path"), step, reason, detail=detail,
                     id=node_id or chunk["chunk_id"], preview=raw)
