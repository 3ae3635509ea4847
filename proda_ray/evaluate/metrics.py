"""Accuracy with honest uncertainty: cluster-bootstrap intervals, group and node tables,
and the item-by-item comparison of two rounds.

Items are not independent: items of one chain share its steps, items of one chunk its text.
Intervals therefore resample *clusters* (``cluster_id``: the item's chain, else its chunk,
else its document; percentile method, a fixed seed, so a report is reproducible). Where the
bootstrap cannot speak — few items, or every item right (or wrong), when every resample is
identical — a Wilson interval over the clusters is used instead (``method`` says which).
A round-vs-round difference is bootstrapped *paired* — the same resampled clusters for both
rounds — and, when no item changed, given the exact binomial bound on how often items could
change unseen. Each comparison carries its smallest detectable effect (80% power, two-sided
5%): 2.8 standard errors of the difference.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

SMALL_N = 30  # fewer clusters than this: a Wilson interval, not the bootstrap
POWER_Z = 1.96 + 0.84  # two-sided alpha 0.05, power 0.80


def _clusters(n: int, clusters: Sequence | None) -> np.ndarray:
    if clusters is None:
        return np.arange(n)
    _, inv = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    return inv


def _boot_means(x: np.ndarray, cl: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of ``x`` resampling whole clusters."""
    k = int(cl.max()) + 1
    sums = np.bincount(cl, weights=x, minlength=k)
    counts = np.bincount(cl, minlength=k).astype(np.float64)
    idx = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    return sums[idx].sum(axis=1) / counts[idx].sum(axis=1)


def bootstrap_ci(values: Iterable[float], n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0, clusters: Sequence | None = None
                 ) -> tuple[float, float, float]:
    """(mean, low, high) of ``values`` with a percentile (cluster) bootstrap interval."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    means = _boot_means(x, _clusters(x.size, clusters), n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(x.mean()), float(lo), float(hi)


def accuracy_ci(correct: Sequence[float], clusters: Sequence | None = None,
                n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of 0/1 (or partial) values with its 95% interval and how it was computed:
    ``cluster_bootstrap``, or ``wilson`` over the clusters when there are fewer than
    ``SMALL_N`` of them or every value is the same (the bootstrap would collapse)."""
    from proda_ray.tester.validity import wilson

    x = np.asarray(list(correct), dtype=np.float64)
    if x.size == 0:
        return {"mean": float("nan"), "ci": [float("nan"), float("nan")], "method": "none",
                "clusters": 0}
    cl = _clusters(x.size, clusters)
    k = int(cl.max()) + 1
    m = float(x.mean())
    if k < SMALL_N or np.all(x == x[0]):
        lo, hi = wilson(round(m * k), k)
        return {"mean": m, "ci": [min(lo, m), max(hi, m)], "method": "wilson", "clusters": k}
    _, lo, hi = bootstrap_ci(x, n_boot, seed=seed, clusters=cl)
    return {"mean": m, "ci": [lo, hi], "method": "cluster_bootstrap", "clusters": k}


def paired_diff_ci(a: Iterable[float], b: Iterable[float], n_boot: int = 1000,
                   alpha: float = 0.05, seed: int = 0, clusters: Sequence | None = None
                   ) -> dict:
    """The change from ``a`` to ``b`` on the same items: ``diff`` = mean(b - a), its
    interval (paired cluster bootstrap; with no item changed, ± the exact one-sided bound on
    the share of clusters that could have changed unseen), the standard error and the
    smallest detectable effect."""
    d = np.asarray(list(b), dtype=np.float64) - np.asarray(list(a), dtype=np.float64)
    if d.size == 0:
        nan = float("nan")
        return {"diff": nan, "ci": [nan, nan], "se": nan, "detectable": nan, "method": "none"}
    cl = _clusters(d.size, clusters)
    k = int(cl.max()) + 1
    if not d.any():  # nothing changed: every resample is 0
        bound = 1 - (alpha / 2) ** (1 / k)  # exact (Clopper-Pearson) upper bound of 0/k
        se = bound / 1.96
        return {"diff": 0.0, "ci": [-bound, bound], "se": se, "detectable": POWER_Z * se,
                "method": "exact_no_change", "clusters": k}
    means = _boot_means(d, cl, n_boot, seed)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    se = float(means.std(ddof=1))
    return {"diff": float(d.mean()), "ci": [float(lo), float(hi)], "se": se,
            "detectable": POWER_Z * se, "method": "paired_cluster_bootstrap", "clusters": k}


def cluster_of(row: dict) -> str:
    """The resampling unit of a prediction: its cluster id, else chain, else the item."""
    return str(row.get("cluster_id") or row.get("chain_id") or row["item_id"])


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


def versus_prior(rows: list[dict], n_boot: int = 1000, seed: int = 0,
                 patterns: dict[str, str] | None = None) -> dict:
    """The model minus the answer-pattern prior on the same items (paired cluster
    bootstrap). ``at_chance`` is true when the interval holds 0: the model's accuracy is not
    told apart from always giving each type's most common key (``patterns``: the prior's,
    when already computed)."""
    pats = patterns or prior(rows)["patterns"]
    base = [float(r["gold"] == pats[str(r.get("question_type") or "item")]) for r in rows]
    d = paired_diff_ci(base, [float(r["correct"]) for r in rows], n_boot, seed=seed,
                       clusters=[cluster_of(r) for r in rows])
    return {"diff": d["diff"], "ci": d["ci"], "at_chance": bool(d["ci"][0] <= 0 <= d["ci"][1])}


def summarize(rows: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy, partial credit and parse rate of prediction rows, with cluster intervals,
    and the answer-pattern prior's accuracy on the same rows."""
    cl = [cluster_of(r) for r in rows]
    acc = accuracy_ci([float(r["correct"]) for r in rows], cl, n_boot, seed)
    part = accuracy_ci([float(r["partial_credit"] or 0) for r in rows], cl, n_boot, seed)
    pr = prior(rows) if rows and "gold" in rows[0] else None
    return {"items": len(rows), "accuracy": acc["mean"], "ci": acc["ci"],
            "ci_method": acc["method"], "clusters": acc["clusters"],
            "partial_credit": part["mean"], "partial_ci": part["ci"],
            "unparsed": sum(1 for r in rows if r.get("parse_status") in ("unparsed", "empty")),
            "prior": pr,
            "vs_prior": versus_prior(rows, n_boot, seed, pr["patterns"]) if pr else None}


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


def by_level(nodes: list[dict], split: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """Macro accuracy per knowledge level (L3 chains, L2 statements, L1 concepts), with an
    interval over the level's nodes."""
    out = {}
    for level, kind in (("L3", "chain"), ("L2", "statement"), ("L1", "concept")):
        xs = [n["accuracy"] for n in nodes if n["node_kind"] == kind and n["split"] == split]
        ci = accuracy_ci(xs, None, n_boot, seed) if xs else None
        out[level] = {"nodes": len(xs), "macro_accuracy": float(np.mean(xs)) if xs else None,
                      "ci": ci["ci"] if ci else None, "ci_method": ci["method"] if ci else None,
                      "nodes_all_wrong": sum(1 for x in xs if x == 0.0)}
    return out


def node_ci(node: dict) -> list[float]:
    """A Wilson interval for one node's accuracy (its few items)."""
    from proda_ray.tester.validity import wilson

    return list(wilson(int(node["correct"]), int(node["items"])))


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
        diff = paired_diff_ci(a, b, n_boot, seed=seed, clusters=[cluster_of(c) for _, c in pairs])
        out[split] = {
            "items": len(pairs), "before": float(np.mean(a)), "after": float(np.mean(b)),
            "diff": diff["diff"], "diff_ci": diff["ci"], "diff_se": diff["se"],
            "detectable": diff["detectable"], "ci_method": diff["method"],
            "fixed": sorted(c["item_id"] for p, c in pairs if not p["correct"] and c["correct"]),
            "broken": sorted(c["item_id"] for p, c in pairs if p["correct"] and not c["correct"]),
            "still_failing": sum(1 for p, c in pairs if not p["correct"] and not c["correct"]),
            "still_correct": sum(1 for p, c in pairs if p["correct"] and c["correct"]),
        }
    return out
