"""Compile chains into gated benchmark items; dedup, quotas and dev/test splits.

``compile_unit`` works on a batch of chains (a work unit): it generates candidates (template
and/or LLM), then applies the per-item gates in order — schema/letters, question length,
option-length balance, answerability (the key must agree with an answer derived from the
chain alone), and the blind form-only check. ``finalize`` then works on all survivors at
once: exact and fuzzy dedup, per-discipline quotas, the adversarial validity suite
(``validity``: reported, or enforced), and the split by source group.
Every dropped item becomes a rejection with a reason.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from proda_ray.engines import Engine
from proda_ray.ids import content_hash, make_id
from proda_ray.tester import closed_book, templates, validity
from proda_ray.tester.config import BenchConfig
from proda_ray.tester.items import (
    blind_check,
    length_balance,
    near_duplicate,
    normalized,
    validate,
)
from proda_ray.workspace.rejections import Rejection

# statement_truth options are whole statements of one chunk; true and false ones share the
# objects' lengths (a false one carries another option's object), so lengths carry no key;
# term_match options are the four terms of a set, each the key of one of the set's items, so
# a term's length is the key exactly as often as it is a distractor
UNBALANCED_LENGTHS = frozenset({"statement_truth", "term_match"})


@dataclass
class Compiled:
    items: list[dict] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    validity: dict | None = None

    def reject(self, item_or_chain: dict, step: str, err: str, preview: str | None = None
               ) -> None:
        reason, _, detail = err.partition(": ")
        self.rejected.append(Rejection(
            item_or_chain.get("chunk_id"), step, reason, detail=detail,
            id=item_or_chain.get("item_id") or item_or_chain.get("chain_id"),
            preview=(preview or item_or_chain.get("question") or "")[:200] or None))
        self.counters[f"rejected:{step}:{reason}"] += 1


def pools(chains: list[dict], statements: list[dict], per_discipline: int = 400,
          seed: int = 0, terms: list[tuple[str, str]] | None = None
          ) -> dict[str, dict[str, list]]:
    """Distractor material per discipline: steps and statements of *other* chains (bounded,
    deterministic), for context-confusion / misattribution options; ``terms`` ((discipline,
    term) of every concept) tell a statement about a domain term."""
    by_disc: dict[str, dict[str, list]] = {}

    def slot(code: str) -> dict[str, list]:
        return by_disc.setdefault(code, {"steps": [], "statements": [], "terms": []})

    chain_disc = {c["chain_id"]: c.get("discipline_code") or "" for c in chains}
    for c in sorted(chains, key=lambda c: c["chain_id"]):
        slot(c.get("discipline_code") or "")["steps"] += [[c["chain_id"], s] for s in c["steps"]]
    for s in sorted(statements, key=lambda s: s["statement_id"]):
        slot(chain_disc.get(s["chain_id"]) or s.get("discipline_code") or "")[
            "statements"].append({k: s[k] for k in ("chain_id", "subject", "predicate",
                                                    "object")})
    for t in sorted(terms or [], key=lambda t: (t[0], t[1])):  # (discipline, term)
        st = sorted(closed_book.stems(t[1]))
        if st:
            slot(t[0] or "")["terms"].append(st)
    everything = {k: [x for d in by_disc.values() for x in d[k]]
                  for k in ("steps", "statements", "terms")}
    by_disc["*"] = everything  # fallback when a discipline has too little material
    for code, d in by_disc.items():
        rng = random.Random(f"{seed}:pool:{code}")
        for k in ("steps", "statements"):
            if len(d[k]) > per_discipline:
                d[k] = rng.sample(d[k], per_discipline)
    return by_disc


def concept_sources(concepts: list[dict], mentions: list[dict]) -> list[dict]:
    """Each defined concept with the chunk its definition came from (the mention whose term
    and definition it kept): the provenance items, splits and attribution need. The
    definition becomes its *definiens* (``closed_book.definiens``: what the term means,
    without the term), or empty when the mention's sentence only names the term."""
    from proda_ray.knowledge.merge import normalize_term

    by_def: dict[tuple[str, str], dict] = {}
    for m in sorted(mentions, key=lambda m: (m["chunk_id"], m["term"])):
        if (m.get("definition") or "").strip():
            by_def.setdefault((normalize_term(m["term"]), m["definition"].strip()), m)
    out = []
    for c in concepts:
        d = (c.get("definition") or "").strip()
        if not d:
            continue
        names = [c["term"], *(c.get("aliases") or [])]
        m = next((by_def[(normalize_term(n), d)] for n in names
                  if (normalize_term(n), d) in by_def), None)
        if m is None:
            continue
        out.append({**c, "chunk_id": m["chunk_id"], "doc_id": m["doc_id"],
                    "discipline_code": m.get("discipline_code"), "origin": m.get("origin"),
                    "definition": closed_book.definiens(c["term"], d, m.get("origin"))})
    return out


def _links(item: dict, chain: dict, stmts: list[dict]) -> None:
    """Statements and concepts an item exercises: those it names, else its chain's."""
    ids = item.get("statement_ids") or [s["statement_id"] for s in stmts]
    item["statement_ids"] = sorted(ids)
    chosen = [s for s in stmts if s["statement_id"] in set(ids)]
    item["concept_ids"] = sorted({c for s in chosen for c in (s.get("concept_ids") or [])}
                                 | set(item.get("concept_ids") or []))


def _chain_candidates(chain: dict, stmts: list[dict], pool: dict, cfg: BenchConfig,
                      out: Compiled) -> list[dict]:
    p = pool.get(chain.get("discipline_code") or "", {"steps": [], "statements": []})
    others = [s for s in p["statements"] if s["chain_id"] != chain["chain_id"]]
    other_steps = [t for cid, t in p["steps"] if cid != chain["chain_id"]]
    if len(other_steps) < 4 or len(others) < 4:  # a thin discipline: borrow wider
        wide = pool.get("*", {"steps": [], "statements": []})
        others += [s for s in wide["statements"] if s["chain_id"] != chain["chain_id"]
                   and s not in others]
        other_steps += [t for cid, t in wide["steps"] if cid != chain["chain_id"]
                        and t not in other_steps]
    made: list[dict] = []
    for kind in cfg.kinds:
        if len(made) >= cfg.items_per_chain:
            break
        if kind == "step_after":
            item, why = closed_book.step_after(chain, cfg.seed, other_steps)
        elif kind in templates.GENERATORS:
            item = templates.GENERATORS[kind](chain, cfg.seed, statements=stmts,
                                              others=others, other_steps=other_steps)
            why = None if item is not None else "not_applicable"
        else:
            continue
        if item is None:
            out.counters[f"template_not_applicable:{kind}:{why}"] += 1
            continue
        made.append(item)
    return made


def annotate_sets(concepts: list[dict], seed: int, similarity=None, side=None) -> list[dict]:
    """``concepts`` with ``set`` (its four-concept set, ``closed_book.definition_sets``) or
    ``set_why`` (why it is in none). The sets must be drawn over the whole core at once
    (the stage does it in its prepare task), so that every member's item is built;
    ``side``: concept -> a key no set mixes (held-out transfer documents or not)."""
    sets, why = closed_book.definition_sets(concepts, seed, similarity, side=side)
    keep = ("concept_id", "term", "aliases", "option")
    return [{**c, "set": [{k: g.get(k) for k in keep} for g in sets[c["concept_id"]]]}
            if c["concept_id"] in sets else {**c, "set_why": why.get(c["concept_id"])}
            for c in concepts]


def _similarity(embed):
    """A memoised cosine of two phrases."""
    cache: dict[str, object] = {}

    def vec(t: str):
        if t not in cache:
            cache[t] = embed([t])[0]
        return cache[t]

    return lambda a, b: float(vec(a) @ vec(b))


def compile_unit(chains: list[dict], statements: list[dict], pool: dict[str, dict],
                 cfg: BenchConfig, engine: Engine | None = None,
                 chunks: list[dict] | None = None, concepts: list[dict] | None = None,
                 embed=None) -> Compiled:
    """Candidates from one work unit, through the per-item gates.

    ``chunks``: the unit's chunks (``chunk_id``, ``doc_id``, ``discipline_code``,
    ``discipline``, ``section_path``, ``title``, ``sentences``) for ``statement_truth``;
    ``concepts``: defined concepts with their source chunk (``concept_sources``) for
    ``definition_match``; ``embed``: texts -> unit-norm vectors (MiniLM in the stage), for
    the check that a swapped object is of the kind it replaces (None: no such check)."""
    out = Compiled()
    similarity = _similarity(embed) if embed is not None else None
    by_chain: dict[str, list[dict]] = {}
    by_chunk: dict[str, list[dict]] = {}
    for s in statements:
        by_chain.setdefault(s["chain_id"], []).append(s)
        by_chunk.setdefault(s.get("chunk_id"), []).append(s)
    candidates: list[tuple[dict, dict, str]] = []  # (source node, item, generator)
    if "template" in cfg.generators:
        for chain in chains:
            out.counters["chains"] += 1
            for item in _chain_candidates(chain, by_chain.get(chain["chain_id"], []), pool,
                                          cfg, out):
                candidates.append((chain, item, "template"))
        if "statement_truth" in cfg.kinds:
            # one topic = a document (a textbook section: often longer than a chunk, and
            # its statements answer one question together)
            sections: dict[tuple, list[dict]] = {}
            for chunk in sorted(chunks or [], key=lambda c: c["chunk_id"]):
                if by_chunk.get(chunk["chunk_id"]):
                    sections.setdefault((chunk["doc_id"], closed_book.topic_of(chunk)),
                                        []).append(chunk)
            for (doc, _topic), members in sorted(sections.items(), key=lambda kv: (
                    kv[0][0], kv[0][1] or "", kv[1][0]["chunk_id"])):
                stmts = [s for c in members for s in by_chunk[c["chunk_id"]]]
                home = max(members, key=lambda c: (len(by_chunk[c["chunk_id"]]),
                                                   c["chunk_id"]))
                sentences = [x for c in members for x in c.get("sentences") or []]
                spare = [s for s in statements if s.get("doc_id") == doc
                         and s not in stmts]
                out.counters["sections"] += 1
                terms = [frozenset(t) for t in
                         (pool.get(home.get("discipline_code") or "", {}).get("terms")
                          or pool.get("*", {}).get("terms") or [])] or None
                n_parts = max(1, min(cfg.items_per_section,
                                     len(closed_book.usable_statements(stmts, terms)) // 4))
                for part in range(n_parts):
                    item, why = closed_book.statement_truth(home, stmts, cfg.seed, sentences,
                                                            spare, part, similarity,
                                                            terms=terms)
                    if item is None:
                        out.counters[f"template_not_applicable:statement_truth:{why}"] += 1
                        continue
                    candidates.append(({**home, "chain_id": None}, item, "template"))
        if {"definition_match", "term_match"} & set(cfg.kinds) and concepts:
            if not any("set" in c or "set_why" in c for c in concepts):
                concepts = annotate_sets(concepts, cfg.seed, similarity)
            domains = {c["chunk_id"]: c.get("discipline") for c in chunks or []}
            for concept in concepts:
                out.counters["concepts"] += 1
                if not concept.get("set"):
                    why = concept.get("set_why") or "not_in_a_set"
                    out.counters[f"template_not_applicable:definition_match:{why}"] += 1
                    continue
                node = {**concept, "chain_id": None,
                        "discipline": concept.get("discipline")
                        or domains.get(concept["chunk_id"])}
                for kind, make in (("definition_match", closed_book.definition_match),
                                   ("term_match", closed_book.term_match)):
                    if kind not in cfg.kinds:
                        continue
                    item, why = make(node, concept["set"], cfg.seed)
                    if item is None:
                        out.counters[f"template_not_applicable:{kind}:{why}"] += 1
                        continue
                    item["concept_ids"] = [concept["concept_id"]]
                    # the concept's own statements (its L2 context): a failure on the term
                    # points the debugger at them too
                    item["statement_ids"] = sorted(concept.get("statement_ids") or [])[:4]
                    candidates.append((node, item, "template"))
    if "llm" in cfg.generators and engine is not None and chains:
        from proda_ray.tester.llm import llm_items

        for chain, item, err in llm_items(chains, engine, cfg.items_per_chain,
                                          cfg.temperature, cfg.max_tokens, cfg.retries,
                                          cfg.seed):
            if item is None:
                out.reject(chain, "generate", err)
            else:
                candidates.append((chain, item, "llm"))
    # per-item gates
    gated: list[tuple[dict, dict]] = []
    for node, item, gen in candidates:
        item.update(generator=gen, chain_id=node.get("chain_id"), chunk_id=node["chunk_id"],
                    doc_id=node["doc_id"], discipline_code=node.get("discipline_code"))
        item["item_id"] = make_id("item", node.get("chain_id") or node["chunk_id"],
                                  item["question"], *item["options"], item["answer"])
        if node.get("chain_id"):
            _links(item, node, by_chain.get(node["chain_id"], []))
        else:
            _links(item, node, by_chunk.get(node["chunk_id"], [])
                   if item.get("statement_ids") else [])
        item.setdefault("level", closed_book.LEVEL.get(item["question_type"], "L3"))
        out.counters[f"candidates:{gen}"] += 1
        err = validate(item, cfg.min_question_words, cfg.max_question_words)
        if err is None and item["question_type"] not in UNBALANCED_LENGTHS:
            err = length_balance(item["options"], cfg.length_tolerance)
        if err:
            out.reject(item, "gate", err)
            continue
        gated.append((node, item))
    checked = _answerability(gated, cfg, engine, out)
    for item in checked:
        # the per-item blind check (one heuristic finds the key) is for the open-book
        # templates; dropping an item *because* its key is the longest would teach a solver
        # that keys never are: closed-book types are judged by the validity suite instead
        err = None if item["question_type"] in closed_book.KINDS else blind_check(item)
        if err:
            out.reject(item, "gate", err)
            continue
        out.items.append(item)
    return out


def _answerability(gated: list[tuple[dict, dict]], cfg: BenchConfig, engine: Engine | None,
                   out: Compiled) -> list[dict]:
    if cfg.answerability == "off":
        return [i for _, i in gated]
    use_engine = [(c, i) for c, i in gated if cfg.answerability == "engine"
                  or (cfg.answerability == "auto" and i["generator"] == "llm")]
    answers: dict[str, str | None] = {}
    if use_engine:
        if engine is None:
            raise RuntimeError("answerability 'engine' needs an engine")
        from proda_ray.tester.llm import engine_answers

        for (_c, i), a in zip(use_engine, engine_answers(use_engine, engine, cfg.retries),
                              strict=True):
            answers[i["item_id"]] = a
    kept = []
    for _c, item in gated:
        if item["item_id"] in answers:
            got, who = answers[item["item_id"]], "engine"
        else:
            got, who = (closed_book.solve_from_facts(item)
                        if item["question_type"] in closed_book.KINDS
                        else templates.solve_from_chain(item)), "rules"
        if got is None:
            out.reject(item, "answerability", f"unanswerable: the {who} check could not "
                       "answer the item from its chain")
            continue
        if got != item["answer"]:
            out.reject(item, "answerability", f"key_contradiction: the {who} check answers "
                       f"{got or '(none)'} from the chain, the key says {item['answer']}")
            continue
        kept.append(item)
    return kept


def split_of(group: str, seed: int, salt: str = "split") -> float:
    """A seeded, stable position in [0, 1) of a group (or node) for a split draw."""
    return int(content_hash(str(seed), salt, group), 16) / 16 ** 16


def transfer_groups_of(chunks: list[dict], cfg: BenchConfig) -> tuple[set[str], int]:
    """(the source groups held out as ``transfer``, how many drawn ones were kept in-domain
    because they share a sentence with an in-domain chunk). A group is a document (or a
    chunk, ``split_by``); the draw is seeded and stable, and a transfer group shares no
    sentence (normalised, 6+ words) with the rest, so nothing the debugger reads states it."""
    from proda_ray.knowledge.text import sentences

    key = "doc_id" if cfg.split_by == "document" else "chunk_id"
    groups = sorted({c[key] for c in chunks})
    # a corpus too small to hold a fraction out (fewer than two groups' worth) keeps them all:
    # the few items it makes are needed in dev
    if cfg.transfer_fraction <= 0 or len(groups) * cfg.transfer_fraction < 2:
        return set(), 0
    drawn = {g for g in groups if split_of(g, cfg.seed, "transfer") < cfg.transfer_fraction}
    if not drawn:  # at least one held-out group
        drawn = {min(groups, key=lambda g: split_of(g, cfg.seed, "transfer"))}

    def hashes(c: dict) -> set[str]:
        out = set()
        for x in sentences(c.get("text") or ""):
            words = re.findall(r"\w+", x.text.lower())
            if len(words) >= 6:
                out.add(content_hash(" ".join(words)))
        return out

    inside: set[str] = set()
    per_group: dict[str, set[str]] = {}
    for c in chunks:
        h = hashes(c)
        if c[key] in drawn:
            per_group.setdefault(c[key], set()).update(h)
        else:
            inside |= h
    shared = {g for g, h in per_group.items() if h & inside}
    return drawn - shared, len(shared)


def _node_of(item: dict) -> str:
    """The knowledge node an item asks about: its concept (L1), chain (L3), else itself."""
    if item.get("level") == "L1" and item.get("concept_ids"):
        return "concept:" + item["concept_ids"][0]
    if item.get("chain_id"):
        return "chain:" + item["chain_id"]
    return "item:" + item["item_id"]


def _pairing(item: dict) -> tuple[str, str]:
    """(question, key text), normalised: what a test item must not share with a dev one."""
    key = " ".join(o for o, c in zip(item["options"], "ABCD", strict=False)
                   if c in item["answer"])
    return normalized({"question": item["question"], "options": []}), \
        normalized({"question": key, "options": []})


def split_items(items: list[dict], cfg: BenchConfig, transfer: set[str],
                counters: Counter) -> None:
    """Assign ``split`` in place: ``transfer`` (held-out documents: never diagnosed);
    ``test`` (unseen items about nodes that also have a ``dev`` item: what a repair of the
    node's dev failure can move); ``dev`` (the rest: what the debugger reads).

    Per node with k ≥ 2 items, one item is drawn to ``test`` with probability
    min(1, k·test_fraction), so about ``test_fraction`` of the in-domain items of such nodes
    are test; a node with one item stays in dev (a test item nothing could repair measures
    nothing a transfer item does not). A test item whose question or key is a near duplicate
    of a dev item's (both: one-word edits of a template stem ask about
    another term) moves to dev."""
    key = "doc_id" if cfg.split_by == "document" else "chunk_id"
    nodes: dict[str, list[dict]] = {}
    for it in items:
        if it.get(key) in transfer:
            it["split"] = "transfer"
            continue
        it["split"] = "dev"
        nodes.setdefault(_node_of(it), []).append(it)
    test: list[dict] = []
    for node, members in sorted(nodes.items()):
        if len(members) < 2:
            continue
        if split_of(node, cfg.seed, "test") < min(1.0, len(members) * cfg.test_fraction):
            members = sorted(members, key=lambda i: i["item_id"])
            pick = members[int(split_of(node, cfg.seed, "pick") * len(members))]
            pick["split"] = "test"
            test.append(pick)
    dev: dict[str, list[tuple[str, str]]] = {}  # per discipline (bounded candidate sets)
    for i in items:
        if i["split"] == "dev":
            dev.setdefault(i.get("discipline_code") or "", []).append(_pairing(i))
    for it in test:
        q, k = _pairing(it)
        if any(near_duplicate(q, dq) and near_duplicate(k, dk)
               for dq, dk in dev.get(it.get("discipline_code") or "", [])):
            it["split"] = "dev"
            counters["test_moved_near_duplicate_of_dev"] += 1
    counters.update(Counter(f"split:{i['split']}" for i in items))


def _dedup_text(item: dict) -> str:
    """What two items must share to be duplicates. Definition items of terms that define
    each other's distractors share every option, yet ask different questions: for them the
    question and its key are the item."""
    if item["question_type"] in ("definition_match", "term_match"):
        key = [o for o, c in zip(item["options"], "ABCD", strict=True) if c in item["answer"]]
        return normalized({"question": item["question"], "options": key})
    return normalized(item)


def finalize(items: list[dict], cfg: BenchConfig, transfer_groups: set[str] | None = None
             ) -> Compiled:
    """Global dedup, quotas and splits over every unit's survivors (deterministic);
    ``transfer_groups``: the documents (or chunks, ``split_by``) held out as ``transfer``
    (``transfer_groups_of``)."""
    out = Compiled()
    items = sorted(items, key=lambda i: i["item_id"])
    seen: dict[str, str] = {}
    by_chain: dict[tuple, list[tuple[str, str]]] = {}
    by_disc: dict[tuple, list[tuple[str, str]]] = {}
    kept = []
    for item in items:
        norm = _dedup_text(item)
        if norm in seen:
            out.reject(item, "dedup", f"duplicate: same text as {seen[norm]}")
            continue
        # fuzzy: within the chain, then across the discipline (bounded candidate sets); a
        # term_match item holds the words of its concept's definition_match item in the
        # other direction (definition -> term): the two are compared only with their own kind
        rev = item["question_type"] == "term_match"
        grp = (item.get("chain_id") or item["chunk_id"], rev)
        disc = (item["discipline_code"] or "", rev)
        near = next((iid for n, iid in by_chain.get(grp, [])
                     if near_duplicate(norm, n)), None)
        if near is None:
            near = next((iid for n, iid in by_disc.get(disc, [])
                         if near_duplicate(norm, n)), None)
        if near is not None:
            out.reject(item, "dedup", f"near_duplicate: too close to {near}")
            continue
        seen[norm] = item["item_id"]
        by_chain.setdefault(grp, []).append((norm, item["item_id"]))
        by_disc.setdefault(disc, []).append((norm, item["item_id"]))
        kept.append(item)
    if cfg.max_items_per_discipline:
        per: Counter = Counter()
        rng = random.Random(f"{cfg.seed}:quota")
        rng.shuffle(kept)  # which items a quota keeps is a seeded draw, not id order
        capped = []
        for item in kept:
            d = item["discipline_code"] or ""
            if per[d] >= cfg.max_items_per_discipline:
                out.reject(item, "quota", f"quota_exceeded: discipline {d or '(none)'} "
                           f"already has {cfg.max_items_per_discipline} items")
                continue
            per[d] += 1
            capped.append(item)
        kept = sorted(capped, key=lambda i: i["item_id"])
    closed_book.balance_keys(kept, cfg.seed)
    # the validity suite: can the items be answered from their form alone?
    if kept:
        rep = validity.evaluate(kept, group_key=("chain_id", "chunk_id"),
                                margin=cfg.validity_margin, seed=cfg.seed)
        out.validity = rep
        if cfg.validity == "enforce":
            bad_types = {t for t, r in rep["types"].items() if r["form_solvable"]}
            solvable = {x["item_id"]: x["why"] for x in rep["form_solvable_items"]}
            survivors = []
            for item in kept:
                t = item["question_type"]
                if t in bad_types:
                    r = rep["types"][t]
                    out.reject(item, "validity", f"form_solvable_type: {r['best_solver']} "
                               f"answers {r['solvers'][r['best_solver']]['accuracy']:.0%} of "
                               f"{t} items from their form, the prior {r['prior']['accuracy']:.0%}")
                elif item["item_id"] in solvable:
                    out.reject(item, "validity", "form_solvable: the key follows from the "
                               f"item's form ({solvable[item['item_id']]})")
                else:
                    survivors.append(item)
            kept = survivors
    split_items(kept, cfg, transfer_groups or set(), out.counters)
    out.items = kept
    out.counters.update(items=len(kept))
    return out
