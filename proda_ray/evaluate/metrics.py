"""Accuracy with honest uncertainty: bootstrap intervals, group and node tables, and the
item-by-item comparison of two rounds.

Bootstrap intervals resample items (percentile method, a fixed seed, so a report is
reproducible). A round-vs-round difference is bootstrapped *paired* — the same resampled
items for both rounds — which is much tighter than two independent intervals and is the
right question ("did this model get better on these items?").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np


def bootstrap_ci(values: Iterable[float], n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high) of ``values`` with a percentile bootstrap interval."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(x.mean()), float(lo), float(hi)


def paired_diff_ci(a: Iterable[float], b: Iterable[float], n_boot: int = 1000,
                   alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean(b - a), low, high): the change from ``a`` to ``b`` on the same items."""
    d = np.asarray(list(b), dtype=np.float64) - np.asarray(list(a), dtype=np.float64)
    return bootstrap_ci(d, n_boot, alpha, seed)


def prior(rows: list[dict]) -> dict:
    """The answer-pattern prior on these rows: always give each question type's most
    common key. Its accuracy, with a 95% Wilson interval, is the chance a reader of the
    benchmark must see beside every model's accuracy."""
    from proda_ray.tester.validity import wilson

    by_type: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        by_type[str(r.get("question_type") or "item")][r["gold"]] += 1
    hits = sum(c.most_common(1)[0][1] for c in by_type.values())
    n = len(rows)
    lo, hi = wilson(hits, n) if n else (float("nan"), float("nan"))
    return {"accuracy": hits / n if n else float("nan"), "ci": [lo, hi],
            "patterns": {t: c.most_common(1)[0][0] for t, c in sorted(by_type.items())}}


def summarize(rows: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy, partial credit and parse rate of prediction rows, with intervals, and the
    answer-pattern prior's accuracy on the same rows."""
    acc = bootstrap_ci([float(r["correct"]) for r in rows], n_boot, seed=seed)
    part = bootstrap_ci([float(r["partial_credit"]) for r in rows], n_boot, seed=seed)
    return {"items": len(rows), "accuracy": acc[0], "ci": [acc[1], acc[2]],
            "partial_credit": part[0], "partial_ci": [part[1], part[2]],
            "unparsed": sum(1 for r in rows if r.get("parse_status") in ("unparsed", "empty")),
            "prior": prior(rows) if rows and "gold" in rows[0] else None}


def by_group(rows: list[dict], key: str, n_boot: int = 1000, seed: int = 0) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r.get(key) or "unknown")].append(r)
    return {g: summarize(v, n_boot, seed) for g, v in sorted(groups.items())}


NODE_KINDS = (("chain", "chain_id"), ("statement", "statement_ids"), ("concept", "concept_ids"))


def node_table(rows: list[dict]) -> list[dict]:
    """Per knowledge node and split: items that test it, correct ones, accuracy.

    An item tests its chain, the statements it was built from and their concepts (the
    benchmark item carries these ids); a node's accuracy is over every item linked to it."""
    acc: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        for kind, col in NODE_KINDS:
            ids = r.get(col)
            for nid in ([ids] if isinstance(ids, str) else ids or []):
                cell = acc[(kind, nid, r["split"])]
                cell[0] += 1
                cell[1] += int(bool(r["correct"]))
    return [{"node_kind": k, "node_id": n, "split": s, "items": v[0], "correct": v[1],
             "accuracy": v[1] / v[0]} for (k, n, s), v in sorted(acc.items())]


def by_level(nodes: list[dict], split: str) -> dict:
    """Macro accuracy per knowledge level (L3 chains, L2 statements, L1 concepts)."""
    out = {}
    for level, kind in (("L3", "chain"), ("L2", "statement"), ("L1", "concept")):
        xs = [n["accuracy"] for n in nodes if n["node_kind"] == kind and n["split"] == split]
        out[level] = {"nodes": len(xs), "macro_accuracy": float(np.mean(xs)) if xs else None,
                      "nodes_all_wrong": sum(1 for x in xs if x == 0.0)}
    return out


def compare(prev: list[dict], cur: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Item-level change between two rounds on the items both evaluated, per split."""
    before = {r["item_id"]: r for r in prev}
    out: dict[str, dict] = {}
    for split in sorted({r["split"] for r in cur}):
        pairs = [(before[r["item_id"]], r) for r in cur
                 if r["split"] == split and r["item_id"] in before]
        if not pairs:
            continue
        a = [float(p["correct"]) for p, _ in pairs]
        b = [float(c["correct"]) for _, c in pairs]
        diff = paired_diff_ci(a, b, n_boot, seed=seed)
        out[split] = {
            "items": len(pairs), "before": float(np.mean(a)), "after": float(np.mean(b)),
            "diff": diff[0], "diff_ci": [diff[1], diff[2]],
            "fixed": sorted(c["item_id"] for p, c in pairs if not p["correct"] and c["correct"]),
            "broken": sorted(c["item_id"] for p, c in pairs if p["correct"] and not c["correct"]),
            "still_failing": sum(1 for p, c in pairs if not p["correct"] and not c["correct"]),
            "still_correct": sum(1 for p, c in pairs if p["correct"] and c["correct"]),
        }
    return out
