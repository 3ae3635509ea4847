"""Probing the model on the knowledge a failed item rests on, to classify the failure.

A failed chain item is a *concept gap* when the model does not know the facts (L2 statements)
and concepts (L1) the chain is made of, and a *reasoning-chain break* when it does know them
but still fails to chain them. Probes ask exactly that: for each implicated statement, "which
statement is true?" (the real one among three with another statement's object); for each
implicated concept with a definition, "which is the definition of X?". Probes are written
from the knowledge core's node texts, never from benchmark items, and are never training data.

The label is a rule on the probe accuracy of the item's nodes (below ``threshold``: concept
gap; at or above: chain break; no probe possible: unknown), and its evidence — every probe,
the model's answer and the accuracy — is stored with it.
"""

from __future__ import annotations

import random

from proda_ray.builder.templates import claim
from proda_ray.ids import make_id

LETTERS = "ABCD"


def _domain(s: dict) -> str:
    return s.get("domain") or "this field"


def _same_field(code: str | None, pool: list[dict], key: str) -> list[dict]:
    """The pool's nodes of discipline ``code`` when they can make three wrong options: a
    wrong option from another field ("Power is DNA replication errors") is refused at
    sight, so the probe would credit the model with knowledge it need not have."""
    if not code:
        return pool
    same = [p for p in pool if (code in (p.get(key) or []) if key == "discipline_codes"
                                else p.get(key) == code)]
    return same if len(same) >= 4 else pool


def statement_probe(s: dict, pool: list[dict], seed: int = 0) -> dict | None:
    """"Which statement is true?": the statement and three with another statement's object,
    of the same discipline where it has enough."""
    rng = random.Random(f"{seed}:{s['statement_id']}")
    own = {s["object"].strip().lower(), s["subject"].strip().lower()}
    others = sorted({p["object"].strip() for p in _same_field(s.get("discipline_code"), pool,
                                                              "discipline_code")
                     if p["statement_id"] != s["statement_id"]
                     and p["object"].strip().lower() not in own and p["object"].strip()})
    if len(others) < 3:
        return None
    wrong = [claim({**s, "object": o}) for o in rng.sample(others, 3)]
    options = [claim(s), *wrong]
    rng.shuffle(options)
    return {"probe_id": make_id("probe", "statement", s["statement_id"]),
            "node_kind": "statement", "node_id": s["statement_id"],
            "question": f"In {_domain(s)}, which statement is true?",
            "options": options, "answer": LETTERS[options.index(claim(s))]}


def concept_probe(c: dict, pool: list[dict], domain: str, seed: int = 0) -> dict | None:
    """"Which is the definition of X?": its definition and three other concepts'."""
    d = (c.get("definition") or "").strip()
    if not d:
        return None
    rng = random.Random(f"{seed}:{c['concept_id']}")
    codes = c.get("discipline_codes") or []
    others = sorted({(p.get("definition") or "").strip() for p in _same_field(
        codes[0] if codes else None, pool, "discipline_codes")
                     if p["concept_id"] != c["concept_id"]} - {"", d})
    if len(others) < 3:
        return None
    options = [d, *rng.sample(others, 3)]
    rng.shuffle(options)
    return {"probe_id": make_id("probe", "concept", c["concept_id"]),
            "node_kind": "concept", "node_id": c["concept_id"],
            "question": f"In {domain}, which is the definition of {c['term']}?",
            "options": options, "answer": LETTERS[options.index(d)]}


def build_probes(node_ids: dict[str, set[str]], statements: dict[str, dict],
                 concepts: dict[str, dict], seed: int = 0) -> list[dict]:
    """Probes for the given statement and concept ids (those that can be probed)."""
    spool = sorted(statements.values(), key=lambda s: s["statement_id"])
    cpool = sorted(concepts.values(), key=lambda c: c["concept_id"])
    out = []
    for sid in sorted(node_ids.get("statement", ())):
        if sid in statements and (p := statement_probe(statements[sid], spool, seed)):
            out.append(p)
    for cid in sorted(node_ids.get("concept", ())):
        if cid in concepts:
            dom = next((statements[s].get("domain") for s in concepts[cid].get("statement_ids")
                        or [] if s in statements and statements[s].get("domain")), None)
            if p := concept_probe(concepts[cid], cpool, dom or "this field", seed):
                out.append(p)
    return out


def classify(nodes: dict[str, dict[str, bool]], answered: dict[str, dict],
             threshold: float = 0.5) -> tuple[str, float, dict]:
    """(label, confidence, evidence) for one failed item, from its nodes' probe results.

    Direct nodes' probes are used when there are any; otherwise the chain's other nodes'."""
    direct = [answered[n] for kind in ("statement", "concept")
              for n, d in nodes[kind].items() if d and n in answered]
    used = direct or [answered[n] for kind in ("statement", "concept")
                      for n in nodes[kind] if n in answered]
    if not used:
        return "unknown", 0.0, {"rule": "no probe could be written for the item's nodes",
                                "probes": []}
    acc = sum(p["correct"] for p in used) / len(used)
    label = "concept_gap" if acc < threshold else "chain_break"
    # confidence grows with the distance from the threshold and with the number of probes
    margin = abs(acc - threshold) / max(threshold, 1 - threshold)
    confidence = round(margin * len(used) / (len(used) + 1), 3)
    evidence = {"rule": f"probe accuracy {acc:.2f} "
                        f"{'<' if label == 'concept_gap' else '>='} {threshold}",
                "probe_accuracy": acc, "scope": "direct" if direct else "chain",
                "probes": [{k: p[k] for k in ("probe_id", "node_kind", "node_id", "question",
                                               "options", "answer", "predicted", "correct")}
                           for p in used]}
    return label, confidence, evidence
