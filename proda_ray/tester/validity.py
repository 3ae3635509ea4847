"""The adversarial validity suite: can an item be answered without the knowledge it names?

A family of solvers that read only an item's stem and options — never the knowledge core, the
source text or the generator's facts — and the accuracy each reaches per question type, next
to the answer-pattern prior (always give the type's most common answer pattern). A question
type is *form-solvable* when its best solver beats the prior by more than ``margin``; an item
is form-solvable when the solver family answers it with certainty (see ``evaluate``).
Reusable on any benchmark: the generated one, LLM-written items, a user's own (``items``:
dicts with ``question``, ``options`` (4), ``answer`` (sorted letters), ``question_type`` and
a group key such as ``chain_id`` for grouped cross-validation).

Solvers:
- ``longest`` / ``shortest``: the longest / shortest option.
- ``stem_overlap``: the option sharing most content words with the stem; ``stem_overlap_set``:
  every option above the mean overlap.
- ``order_in_stem``: options that name two passages of the stem in the order the stem gives
  them ("X leads to Y" when X comes first in the stem) are true.
- ``shared_phrases``: options whose words recur most across the other options are true (a key
  built from one fact shares its phrases; distractors from elsewhere do not).
- ``odd_one_out``: the option least like the others is false, the rest true.
- ``surface_classifier``: a logistic regression over per-option surface features (length,
  rank, overlaps, order signal, marker words, position), trained with cross-validation grouped
  by ``group`` so no chain's items sit in both its training and test folds.
A heuristic that abstains falls back to the prior, so every solver is a full answer policy.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from proda_ray.tester.items import LETTERS, answer_letters, validate

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset((
    "the", "a", "an", "of", "and", "or", "to", "in", "on", "for", "by", "with", "is", "are",
    "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "as", "at",
    "from", "which", "what", "who", "whom", "when", "where", "how", "why", "than", "then",
    "there", "their", "they", "them", "more", "most", "less", "one", "two", "following",
    "correct", "option", "options", "may", "can", "will", "does", "do", "not",
))
_MARKERS = re.compile(r"\b(because|therefore|which|thus|due to|in order to|always|never|only|"
                      r"all|none|not|no|every|ultimately|directly)\b", re.I)
HEURISTICS = ("longest", "shortest", "stem_overlap", "stem_overlap_set", "order_in_stem",
              "shared_phrases", "odd_one_out")


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _stem_positions(option: str, stem_words: list[str]) -> list[int]:
    """First stem position of each run of >= 2 option words that occurs in the stem, in the
    option's order: the passages of the stem an option names."""
    ow = _content(option)
    grams = {}
    for i in range(len(stem_words) - 1):
        grams.setdefault((stem_words[i], stem_words[i + 1]), i)
    out, i = [], 0
    while i < len(ow) - 1:
        p = grams.get((ow[i], ow[i + 1]))
        if p is not None:
            out.append(p)
            while i < len(ow) - 1 and (ow[i], ow[i + 1]) in grams:
                i += 1
        i += 1
    return out


def _order_signal(option: str, stem_words: list[str]) -> int:
    """+1: the option names stem passages in stem order; -1: in reverse; 0: no signal."""
    pos = _stem_positions(option, stem_words)
    if len(pos) < 2:
        return 0
    return 1 if pos[0] < pos[-1] else -1 if pos[0] > pos[-1] else 0


def _surface(item: dict) -> dict:
    """What every form-only reader looks at, computed once per item: option lengths, each
    option's overlap with the stem, the recurrence of its words across the options, its
    summed similarity to the other options and its order-in-stem signal."""
    opts = item["options"]
    stem_words = _content(item["question"])
    sw = set(stem_words)
    ow = [set(_content(o)) for o in opts]
    df = Counter(w for s in ow for w in s)
    return {
        "lengths": [len(o) for o in opts],
        "overlap": [_jaccard(s, sw) for s in ow],
        "shared": [sum(df[w] - 1 for w in s) / max(1, len(s)) for s in ow],
        "similarity": [sum(_jaccard(ow[i], ow[j]) for j in range(4) if j != i)
                       for i in range(4)],
        "order": [_order_signal(o, stem_words) for o in opts],
    }


def heuristic_answers(item: dict, surface: dict | None = None) -> dict[str, str | None]:
    """Each heuristic's answer (sorted letters), or None where it gives no signal."""
    f = surface or _surface(item)
    lengths, ov, shared, sim, sig = (f[k] for k in ("lengths", "overlap", "shared",
                                                    "similarity", "order"))
    out: dict[str, str | None] = dict.fromkeys(HEURISTICS)
    if lengths.count(max(lengths)) == 1:
        out["longest"] = LETTERS[lengths.index(max(lengths))]
    if lengths.count(min(lengths)) == 1:
        out["shortest"] = LETTERS[lengths.index(min(lengths))]
    if max(ov) > 0 and ov.count(max(ov)) == 1:
        out["stem_overlap"] = LETTERS[ov.index(max(ov))]
    mean = sum(ov) / 4
    above = [i for i, v in enumerate(ov) if v > mean]
    if 0 < len(above) < 4:
        out["stem_overlap_set"] = answer_letters(above)
    if any(sig):
        fwd = [i for i, s in enumerate(sig) if s > 0]
        out["order_in_stem"] = answer_letters(fwd) if fwd else None
    m = sum(shared) / 4
    top = [i for i, v in enumerate(shared) if v > m]
    if 0 < len(top) < 4:
        out["shared_phrases"] = answer_letters(top)
    if sim.count(min(sim)) == 1:
        out["odd_one_out"] = answer_letters(i for i in range(4) if sim[i] != min(sim))
    return out


def option_features(item: dict, surface: dict | None = None) -> np.ndarray:
    """Surface features of each option (4 rows): nothing but the item's own text."""
    f = surface or _surface(item)
    lengths = np.array(f["lengths"], dtype=float)
    ov = np.array(f["overlap"])
    cross = np.array(f["similarity"]) / 3  # mean similarity to the other three
    shared = np.array(f["shared"])
    rows = []
    for i, o in enumerate(item["options"]):
        rows.append([
            lengths[i] / max(1.0, lengths.mean()), float(np.argsort(np.argsort(lengths))[i]),
            float(lengths[i] == lengths.max()), float(lengths[i] == lengths.min()),
            ov[i], ov[i] - ov.mean(), cross[i], cross[i] - cross.mean(),
            shared[i] - shared.mean(), float(f["order"][i]),
            float(len(_MARKERS.findall(o))), float(bool(re.search(r"\bnot\b|n't\b", o))),
            *[float(i == k) for k in range(4)],
        ])
    return np.array(rows)


def _targets(item: dict) -> np.ndarray:
    return np.array([float(LETTERS[i] in item["answer"]) for i in range(4)])


def _folds(groups: list[str], k: int, seed: int) -> list[int]:
    """Fold of each item: whole groups per fold, assigned by a seeded shuffle."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    fold_of = {g: i % k for i, g in enumerate(uniq)}
    return [fold_of[g] for g in groups]


def wilson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    if n == 0:
        return float("nan"), float("nan")
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _classifier_predictions(items: list[dict], surfaces: list[dict], folds: list[int], k: int,
                            prior: list[str]) -> tuple[list[str], list[float]]:
    """Out-of-fold answers of the surface classifier and its certainty per item (the least
    confident of its four option decisions)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = [option_features(it, f) for it, f in zip(items, surfaces, strict=True)]
    y = [_targets(it) for it in items]
    preds, certainty = list(prior), [0.0] * len(items)
    for f in range(k):
        train = [i for i in range(len(items)) if folds[i] != f]
        test = [i for i in range(len(items)) if folds[i] == f]
        if not test or not train:
            continue
        ytr = np.concatenate([y[i] for i in train])
        if len(set(ytr.tolist())) < 2:
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0))
        model.fit(np.vstack([x[i] for i in train]), ytr)
        for i in test:
            p = model.predict_proba(x[i])[:, 1]
            chosen = [j for j in range(4) if p[j] >= 0.5] or [int(np.argmax(p))]
            preds[i] = answer_letters(chosen)
            certainty[i] = float(np.min(np.maximum(p, 1 - p)))
    return preds, certainty


def evaluate(items: list[dict], group_key: str | tuple[str, ...] = "chain_id",
             margin: float = 0.05,
             folds: int = 5, seed: int = 0, certainty: float = 0.9) -> dict:
    """The suite over ``items``: per question type, the prior's and every solver's accuracy
    with 95% Wilson intervals, the best solver's margin over the prior and whether the type
    is form-solvable (margin > ``margin``); per item, ``form_solvable`` when the classifier
    answers it correctly with every option decision at least ``certainty`` sure, or when
    three or more heuristics give its exact key and none gives another answer. An item that
    is not a well-formed 4-option item (``items.validate``'s schema and letter rules; any
    question length) is left out and counted in ``invalid_items`` by reason. ``group_key``:
    the column (or columns, first non-empty wins) whose value keeps items in one fold."""
    keys = (group_key,) if isinstance(group_key, str) else tuple(group_key)
    by_type: dict[str, list[int]] = defaultdict(list)
    invalid: Counter = Counter()
    for i, it in enumerate(items):
        err = validate(it, 0, 10**9) if isinstance(it, dict) and isinstance(
            it.get("question"), str) else "invalid_item: not an item with a question text"
        if err:
            invalid[re.sub(r"answer .* is not", "answer is not", err)] += 1
            continue
        by_type[it.get("question_type") or "item"].append(i)
    report: dict = {"margin": margin, "types": {}, "form_solvable_items": [],
                    "invalid_items": dict(invalid)}
    for qtype, idx in sorted(by_type.items()):
        sub = [items[i] for i in idx]
        groups = [str(next((it[k] for k in keys if it.get(k)), None) or it.get("item_id") or n)
                  for n, it in enumerate(sub)]
        k = max(2, min(folds, len(set(groups))))
        fold = _folds(groups, k, seed)
        # the prior: always the most common answer pattern of the type (its accuracy is the
        # chance a pattern-only guesser has; out-of-fold it would fall *below* chance when
        # patterns are balanced, which flatters every solver compared with it)
        keys = [it["answer"] for it in sub]
        counts = Counter(keys)
        prior = [min(counts, key=lambda a: (-counts[a], a))] * len(sub)
        answers = {"prior": prior}
        surfaces = [_surface(it) for it in sub]
        heur = [heuristic_answers(it, f) for it, f in zip(sub, surfaces, strict=True)]
        for name in HEURISTICS:
            answers[name] = [h[name] or prior[i] for i, h in enumerate(heur)]
        enough = len(set(groups)) >= 2 and len(sub) >= 8
        if enough:
            answers["surface_classifier"], cert = _classifier_predictions(
                sub, surfaces, fold, k, prior)
        else:
            cert = [0.0] * len(sub)
        n = len(sub)
        solvers = {}
        for name, got in answers.items():
            hits = sum(g == key for g, key in zip(got, keys, strict=True))
            lo, hi = wilson(hits, n)
            solvers[name] = {"accuracy": round(hits / n, 4), "ci95": [round(lo, 4), round(hi, 4)]}
        prior_acc = solvers["prior"]["accuracy"]
        best = max((s for s in solvers if s != "prior"), key=lambda s: solvers[s]["accuracy"])
        gap = solvers[best]["accuracy"] - prior_acc
        report["types"][qtype] = {
            "n": n, "groups": len(set(groups)), "folds": k,
            "answer_patterns": dict(Counter(keys).most_common()),
            "prior": solvers["prior"], "solvers": {s: v for s, v in solvers.items()
                                                   if s != "prior"},
            "best_solver": best, "best_minus_prior": round(gap, 4),
            "form_solvable": gap > margin, "classifier_trained": enough}
        for j, it in enumerate(sub):
            agree = [h for h in heur[j].values() if h is not None]
            sure = "surface_classifier" in answers and cert[j] >= certainty and \
                answers["surface_classifier"][j] == keys[j]
            unanimous = len(agree) >= 3 and all(a == keys[j] for a in agree)
            if sure or unanimous:
                report["form_solvable_items"].append(
                    {"item_id": it.get("item_id"), "question_type": qtype,
                     "why": "surface_classifier" if sure else "heuristics_unanimous"})
    return report


def table(report: dict) -> str:
    """The report as a markdown table: one row per question type."""
    lines = ["| type | n | prior | best solver | best | best − prior | form-solvable |",
             "|---|---:|---:|---|---:|---:|---|"]
    for qtype, t in report["types"].items():
        b = t["solvers"][t["best_solver"]]
        lines.append(
            f"| {qtype} | {t['n']} | {t['prior']['accuracy']:.1%} "
            f"[{t['prior']['ci95'][0]:.0%}, {t['prior']['ci95'][1]:.0%}] | {t['best_solver']} "
            f"| {b['accuracy']:.1%} [{b['ci95'][0]:.0%}, {b['ci95'][1]:.0%}] "
            f"| {t['best_minus_prior']:+.1%} | {'YES' if t['form_solvable'] else 'no'} |")
    return "\n".join(lines)
