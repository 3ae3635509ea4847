"""Template SFT generators: knowledge content (L1/L2) in fixed task structures.

Deterministic for a seed and grounded by construction: a sample states only statements and
definitions of the knowledge core (false claims are marked false and corrected). They need
no teacher model, so a weak or absent teacher still yields correct data. Inputs are
statements (subject, predicate, object) and concepts (term, definition) only — never chains,
never benchmark items.
"""

from __future__ import annotations

import random
import re

from proda_ray.ids import make_id

LETTERS = "ABCD"
ANTONYMS = {
    "increases": "decreases", "raises": "lowers", "promotes": "inhibits",
    "activates": "inhibits", "causes": "prevents", "produces": "consumes",
    "releases": "absorbs", "gains": "loses", "expands": "contracts", "heats": "cools",
    "speeds up": "slows down", "enables": "blocks", "adds": "removes", "attracts": "repels",
    "strengthens": "weakens", "accelerates": "decelerates", "rises": "falls",
    "stimulates": "suppresses", "forms": "breaks down", "increase": "decrease",
    "raise": "lower", "produce": "consume", "release": "absorb", "cause": "prevent",
}
ANTONYMS |= {v: k for k, v in list(ANTONYMS.items())}


def claim(s: dict) -> str:
    """A statement as a sentence."""
    text = f"{s['subject'].strip()} {s['predicate'].strip()} {s['object'].strip()}"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _domain(s: dict) -> str:
    return s.get("domain") or "this field"


def _definitions(s: dict, concepts: dict[str, dict], limit: int = 2) -> str:
    defs = [concepts[c]["definition"].strip() for c in s.get("concept_ids") or []
            if c in concepts and (concepts[c].get("definition") or "").strip()]
    return " ".join(d if d.endswith(".") else d + "." for d in defs[:limit])


def _explain(s: dict, concepts: dict[str, dict]) -> str:
    defs = _definitions(s, concepts)
    return claim(s) + (" " + defs if defs else "")


def _sample(task: str, prompt: str, response: str, stmts: list[dict], concept_ids,
            disc: str | None, variant: str) -> dict:
    return {"sample_id": make_id("sft", task, variant, prompt, response),
            "task_type": task, "generator": "template", "prompt": prompt,
            "response": response, "statement_ids": sorted({s["statement_id"] for s in stmts}),
            "concept_ids": sorted(set(concept_ids)), "discipline_code": disc}


def qa(s: dict, rng: random.Random, concepts: dict, pool: list[dict], **_) -> dict | None:
    variant = rng.choice(["object", "subject", "concept"])
    if variant == "concept":
        known = [concepts[c] for c in s.get("concept_ids") or [] if c in concepts
                 and (concepts[c].get("definition") or "").strip()]
        if known:
            c = rng.choice(known)
            return _sample("qa", f"In {_domain(s)}, what is {c['term']}?",
                           c["definition"].strip() + f" For example: {claim(s)}", [s],
                           [c["concept_id"]], s.get("discipline_code"), "concept")
        variant = "object"
    if variant == "object":
        q = f"In {_domain(s)}, what does {s['subject'].strip()} {s['predicate'].strip()}?"
    else:
        q = f"In {_domain(s)}, what {s['predicate'].strip()} {s['object'].strip()}?"
    return _sample("qa", q, _explain(s, concepts), [s], s.get("concept_ids") or [],
                   s.get("discipline_code"), variant)


def _other_objects(s: dict, pool: list[dict], n: int, rng: random.Random) -> list[str]:
    own = {s["object"].strip().lower(), s["subject"].strip().lower()}
    cands = sorted({p["object"].strip() for p in pool
                    if p["object"].strip().lower() not in own})
    same = [c for c in cands if any(p["object"].strip() == c and p.get("discipline_code")
                                    == s.get("discipline_code") for p in pool)]
    rng.shuffle(same)
    rest = [c for c in cands if c not in same]
    rng.shuffle(rest)
    return (same + rest)[:n]


def single_choice(s: dict, rng: random.Random, concepts: dict, pool: list[dict], **_
                  ) -> dict | None:
    wrong = _other_objects(s, pool, 3, rng)
    if len(wrong) < 3:
        return None
    options = [s["object"].strip(), *wrong]
    rng.shuffle(options)
    key = LETTERS[options.index(s["object"].strip())]
    prompt = (f"In {_domain(s)}: {s['subject'].strip()} {s['predicate'].strip()} ___. "
              "Which option completes the statement?\n"
              + "\n".join(f"{k}. {o}" for k, o in zip(LETTERS, options, strict=True)))
    return _sample("single_choice", prompt, f"{key}\n\n{_explain(s, concepts)}", [s],
                   s.get("concept_ids") or [], s.get("discipline_code"), "complete")


def multi_choice(s: dict, rng: random.Random, concepts: dict, pool: list[dict],
                 by_concept: dict[str, list[dict]], **_) -> dict | None:
    """Select-all about one concept: 1-3 true statements that mention it, the rest
    object-swapped."""
    cids = [c for c in s.get("concept_ids") or [] if c in concepts]
    if not cids:
        return None
    cid = rng.choice(cids)
    related = sorted({x["statement_id"]: x for x in by_concept.get(cid, [])}.values(),
                     key=lambda x: x["statement_id"])
    others = [x for x in related if x["statement_id"] != s["statement_id"]
              and claim(x) != claim(s)]
    true = [s, *rng.sample(others, min(2, len(others)))]
    k = rng.randint(1, len(true))
    true = true[:k]
    false = []
    for base in (true * 3)[: 4 - k]:
        objs = _other_objects(base, pool, 4, rng)
        objs = [o for o in objs if claim({**base, "object": o}) not in
                {claim(x) for x in true} | {f for f, _b in false}]
        if not objs:
            return None
        false.append((claim({**base, "object": objs[0]}), base))
    options = [claim(x) for x in true] + [f for f, _ in false]
    if len(set(options)) < 4:
        return None
    order = list(range(4))
    rng.shuffle(order)
    shown = [options[i] for i in order]
    key = ",".join(sorted(LETTERS[order.index(i)] for i in range(k)))
    term = concepts[cid]["term"]
    prompt = (f"In {_domain(s)}, which of the following statements about {term} are correct? "
              "Select all that apply.\n"
              + "\n".join(f"{L}. {o}" for L, o in zip(LETTERS, shown, strict=True)))
    wrongs = " ".join(f"Not: {f[:-1]}; in fact {claim(b)}" for f, b in false)
    response = f"{key}\n\n" + " ".join(claim(x) for x in true) + " " + wrongs
    return _sample("multi_choice", prompt, response.strip(), true,
                   [cid, *(c for x in true for c in x.get("concept_ids") or [])],
                   s.get("discipline_code"), "about_concept")


def _reverse_predicate(pred: str) -> str | None:
    p = pred.strip()
    for word, opposite in sorted(ANTONYMS.items(), key=lambda kv: -len(kv[0])):
        m = re.search(rf"\b{re.escape(word)}\b", p, re.I)
        if m:
            return p[: m.start()] + opposite + p[m.end():]
    return None


def true_false(s: dict, rng: random.Random, concepts: dict, pool: list[dict],
               true_ratio: float = 0.5, **_) -> dict | None:
    if rng.random() < true_ratio:
        statement, key, why, variant = claim(s), "A", f"True. {_explain(s, concepts)}", "true"
    else:
        options = []
        objs = _other_objects(s, pool, 1, rng)
        if objs:
            options.append(("object_swap", claim({**s, "object": objs[0]})))
        rev = _reverse_predicate(s["predicate"])
        if rev:
            options.append(("predicate_reversal", claim({**s, "predicate": rev})))
        others = sorted({c["term"] for c in concepts.values()
                         if c["term"].strip().lower() not in
                         {s["subject"].strip().lower(), s["object"].strip().lower()}})
        if others:
            options.append(("subject_confusion",
                            claim({**s, "subject": rng.choice(others)})))
        if not options:
            return None
        variant, statement = rng.choice(options)
        key = "B"
        why = f"False. The statement is wrong; in fact: {_explain(s, concepts)}"
    prompt = (f"In {_domain(s)}, is the following statement true or false?\n{statement}\n"
              "A. True\nB. False")
    return _sample("true_false", prompt, f"{key}\n\n{why}", [s], s.get("concept_ids") or [],
                   s.get("discipline_code"), variant)


GENERATORS = {"qa": qa, "single_choice": single_choice, "multi_choice": multi_choice,
              "true_false": true_false}


def plan_counts(n_total: int, ratios: dict[str, float]) -> dict[str, int]:
    """Integer sample counts per task type (largest remainder; sums to ``n_total``)."""
    raw = {k: n_total * v for k, v in ratios.items()}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (counts[k] - raw[k], k))[: n_total - sum(counts.values())]:
        counts[k] += 1
    return counts


def generate(statements: list[dict], concepts: list[dict], *, samples_per_statement: float,
             ratios: dict[str, float], seed: int, true_ratio: float = 0.5
             ) -> tuple[list[dict], dict]:
    """Template samples for a knowledge core (deterministic). Returns (samples, counters)."""
    stmts = sorted(statements, key=lambda s: s["statement_id"])
    cmap = {c["concept_id"]: c for c in concepts}
    by_concept: dict[str, list[dict]] = {}
    for s in stmts:
        for c in s.get("concept_ids") or []:
            by_concept.setdefault(c, []).append(s)
    counters: dict[str, int] = {}
    if not stmts:
        return [], counters
    counts = plan_counts(max(1, round(samples_per_statement * len(stmts))), ratios)
    out: dict[str, dict] = {}
    for task, n in sorted(counts.items()):
        rng = random.Random(f"{seed}:{task}")
        order = stmts[:]
        rng.shuffle(order)
        made = attempts = 0
        while made < n and attempts < 3 * max(n, len(order)):
            s = order[attempts % len(order)]
            attempts += 1
            sample = GENERATORS[task](s, rng, concepts=cmap, pool=stmts,
                                      by_concept=by_concept, true_ratio=true_ratio)
            if sample is None:
                counters[f"not_applicable:{task}"] = counters.get(f"not_applicable:{task}",
                                                                  0) + 1
                continue
            if sample["sample_id"] in out:
                counters[f"repeat:{task}"] = counters.get(f"repeat:{task}", 0) + 1
                continue
            out[sample["sample_id"]] = sample
            made += 1
        counters[f"planned:{task}"] = n
        counters[f"made:{task}"] = made
    return sorted(out.values(), key=lambda x: x["sample_id"]), counters
