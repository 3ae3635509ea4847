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
from collections import Counter
from dataclasses import dataclass, field

from proda_ray.engines import Engine
from proda_ray.ids import content_hash, make_id
from proda_ray.spec.records import Rejection
from proda_ray.tester import templates, validity
from proda_ray.tester.config import BenchConfig
from proda_ray.tester.items import (
    blind_check,
    length_balance,
    near_duplicate,
    normalized,
    validate,
)


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
          seed: int = 0) -> dict[str, dict[str, list]]:
    """Distractor material per discipline: steps and statements of *other* chains (bounded,
    deterministic). Items borrow from it for context-confusion / misattribution options."""
    by_disc: dict[str, dict[str, list]] = {}
    chain_disc = {c["chain_id"]: c.get("discipline_code") or "" for c in chains}
    for c in sorted(chains, key=lambda c: c["chain_id"]):
        d = by_disc.setdefault(c.get("discipline_code") or "", {"steps": [], "statements": []})
        d["steps"] += [[c["chain_id"], s] for s in c["steps"]]
    for s in sorted(statements, key=lambda s: s["statement_id"]):
        d = by_disc.setdefault(chain_disc.get(s["chain_id"]) or s.get("discipline_code") or "",
                               {"steps": [], "statements": []})
        d["statements"].append({k: s[k] for k in ("chain_id", "subject", "predicate",
                                                  "object")})
    everything = {"steps": [x for d in by_disc.values() for x in d["steps"]],
                  "statements": [x for d in by_disc.values() for x in d["statements"]]}
    by_disc["*"] = everything  # fallback when a discipline has too little material
    for code, d in by_disc.items():
        rng = random.Random(f"{seed}:pool:{code}")
        for k in ("steps", "statements"):
            if len(d[k]) > per_discipline:
                d[k] = rng.sample(d[k], per_discipline)
    return by_disc


def _links(item: dict, chain: dict, stmts: list[dict]) -> None:
    """Statements and concepts an item exercises: those it names, else its chain's."""
    ids = item.get("statement_ids") or [s["statement_id"] for s in stmts]
    item["statement_ids"] = sorted(ids)
    chosen = [s for s in stmts if s["statement_id"] in set(ids)]
    item["concept_ids"] = sorted({c for s in chosen for c in (s.get("concept_ids") or [])})


def compile_unit(chains: list[dict], statements: list[dict], pool: dict[str, dict],
                 cfg: BenchConfig, engine: Engine | None = None) -> Compiled:
    out = Compiled()
    by_chain: dict[str, list[dict]] = {}
    for s in statements:
        by_chain.setdefault(s["chain_id"], []).append(s)
    candidates: list[tuple[dict, dict, str]] = []  # (chain, item, generator)
    for chain in chains:
        out.counters["chains"] += 1
        stmts = by_chain.get(chain["chain_id"], [])
        p = pool.get(chain.get("discipline_code") or "", {"steps": [], "statements": []})
        others = [s for s in p["statements"] if s["chain_id"] != chain["chain_id"]]
        other_steps = [t for cid, t in p["steps"] if cid != chain["chain_id"]]
        if len(other_steps) < 4 or len(others) < 4:  # a thin discipline: borrow wider
            wide = pool.get("*", {"steps": [], "statements": []})
            others += [s for s in wide["statements"] if s["chain_id"] != chain["chain_id"]
                       and s not in others]
            other_steps += [t for cid, t in wide["steps"] if cid != chain["chain_id"]
                            and t not in other_steps]
        if "template" in cfg.generators:
            made = 0
            for kind in cfg.kinds:
                if made >= cfg.items_per_chain:
                    break
                item = templates.GENERATORS[kind](chain, cfg.seed, statements=stmts,
                                                  others=others, other_steps=other_steps)
                if item is None:
                    out.counters[f"template_not_applicable:{kind}"] += 1
                    continue
                candidates.append((chain, item, "template"))
                made += 1
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
    for chain, item, gen in candidates:
        item.update(generator=gen, chain_id=chain["chain_id"], chunk_id=chain["chunk_id"],
                    doc_id=chain["doc_id"], discipline_code=chain.get("discipline_code"))
        item["item_id"] = make_id("item", chain["chain_id"], item["question"],
                                  *item["options"], item["answer"])
        _links(item, chain, by_chain.get(chain["chain_id"], []))
        out.counters[f"candidates:{gen}"] += 1
        err = (validate(item, cfg.min_question_words, cfg.max_question_words)
               or length_balance(item["options"], cfg.length_tolerance))
        if err:
            out.reject(item, "gate", err)
            continue
        gated.append((chain, item))
    checked = _answerability(gated, cfg, engine, out)
    for item in checked:
        err = blind_check(item)
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
            got, who = templates.solve_from_chain(item), "rules"
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


def split_of(group: str, seed: int, test_fraction: float) -> float:
    """A group's position in [0, 1): below ``test_fraction`` means test."""
    return int(content_hash(str(seed), "split", group), 16) / 16 ** 16


def finalize(items: list[dict], cfg: BenchConfig) -> Compiled:
    """Global dedup, quotas and splits over every unit's survivors (deterministic)."""
    out = Compiled()
    items = sorted(items, key=lambda i: i["item_id"])
    seen: dict[str, str] = {}
    by_chain: dict[str, list[tuple[str, str]]] = {}
    by_disc: dict[str, list[tuple[str, str]]] = {}
    kept = []
    for item in items:
        norm = normalized(item)
        if norm in seen:
            out.reject(item, "dedup", f"duplicate: same text as {seen[norm]}")
            continue
        # fuzzy: within the chain, then across the discipline (bounded candidate sets)
        near = next((iid for n, iid in by_chain.get(item["chain_id"], [])
                     if near_duplicate(norm, n)), None)
        if near is None:
            near = next((iid for n, iid in by_disc.get(item["discipline_code"] or "", [])
                         if near_duplicate(norm, n)), None)
        if near is not None:
            out.reject(item, "dedup", f"near_duplicate: too close to {near}")
            continue
        seen[norm] = item["item_id"]
        by_chain.setdefault(item["chain_id"], []).append((norm, item["item_id"]))
        by_disc.setdefault(item["discipline_code"] or "", []).append((norm, item["item_id"]))
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
    # the validity suite: can the items be answered from their form alone?
    if kept:
        rep = validity.evaluate(kept, group_key="chain_id", margin=cfg.validity_margin,
                                seed=cfg.seed)
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
    # splits: whole source groups go to dev or test
    key = "chunk_id" if cfg.split_by == "chunk" else "doc_id"
    groups = sorted({i[key] for i in kept})
    pos = {g: split_of(g, cfg.seed, cfg.test_fraction) for g in groups}
    test = {g for g in groups if pos[g] < cfg.test_fraction}
    if len(groups) >= 2:  # both splits non-empty whenever there are two groups
        if not test:
            test = {min(groups, key=pos.get)}
        elif test == set(groups):
            test.discard(max(groups, key=pos.get))
    for item in kept:
        item["split"] = "test" if item[key] in test else "dev"
    out.items = kept
    out.counters.update(items=len(kept), groups=len(groups), test_groups=len(test))
    return out
