"""Heuristic text quality, in the spirit of the Gopher / C4 / FineWeb rules.

Each signal is measured, then mapped to [0, 1] by a linear ramp between a *bad* value (score 0)
and a *good* value (score 1). The chunk's quality score is the **worst** signal's score, so a
drop always names the one property that failed (``low_quality:<signal>``) and a chunk cannot
hide a defect behind other good numbers.

| signal | measures | bad | good |
|---|---|---|---|
| alpha_ratio | letters / non-space chars | 0.25 | 0.55 |
| mean_word_len | mean length of whitespace words | 1.5 / 25 | 3 – 12 |
| dup_line_frac | chars in lines repeated within the chunk | 0.5 | 0.15 |
| top_bigram_frac | chars covered by the most frequent word bigram | 0.4 | 0.15 |
| dup_5gram_frac | words inside repeated word 5-grams | 0.8 | 0.35 |
| junk_line_frac | lines with < 30% letters (non-table, non-code) | 0.8 | 0.4 |

Tables, equations and code are legitimate in textbooks and manuals, so ``junk_line_frac``
ignores table rows and code-fence contents. The ramps were set on the OpenStax corpus: at the
default threshold about 2% of its chunks drop (answer-option lists, pure equation dumps,
glossary stubs) while keyboard mash, repeated boilerplate and number dumps always do.
``proda status`` and ``benchmarks/corpus.py`` report the drops by reason.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np

from proda_ray.spec.charclass import LETTER, SPACE, codepoints, table

_WORD = re.compile(r"\w+")


def _ramp(x: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear in between (works for either direction)."""
    if bad == good:
        return 1.0 if x == good else 0.0
    t = (x - bad) / (good - bad)
    return min(1.0, max(0.0, t))


def quality_signals(text: str) -> dict[str, float]:
    """Raw measurements of a text (see the table in the module docstring).

    Character counts come from one pass over the code points with lookup tables (letters,
    whitespace), per-line letter counts from a prefix sum, and repeated 5-grams from one
    ``np.unique`` over word ids: the same numbers as counting line by line in Python
    (``tests/spec/test_vectorized_reference.py`` checks them against such a reference).
    """
    cps = codepoints(text)
    letter = table(LETTER)[cps]
    n_non_space = int(len(cps) - table(SPACE)[cps].sum())
    words_n = len(text.split())  # split() and \s agree on whitespace: the words' characters
    alpha = int(letter.sum())    # are exactly the non-space ones

    raw = text.split("\n")
    breaks = np.flatnonzero(cps == 10)
    prefix = np.concatenate(([0], np.cumsum(letter, dtype=np.int64)))
    line_letters = (prefix[np.append(breaks, len(cps))]
                    - prefix[np.concatenate(([0], breaks + 1))]).tolist()
    lines, lines_letters = [], []
    for ln, n_letters in zip(raw, line_letters, strict=True):
        stripped = ln.strip()
        if stripped:
            lines.append(stripped)
            lines_letters.append(n_letters)  # stripping removes no letter
    line_counts = Counter(lines)
    dup_line_chars = sum(len(ln) * (c - 1) for ln, c in line_counts.items() if c > 1)
    total_line_chars = sum(map(len, lines)) or 1

    lw = [w.lower() for w in _WORD.findall(text)]
    top_bigram = 0.0
    dup5 = 0.0
    if len(lw) >= 10:
        bigrams = Counter(itertools.pairwise(lw))
        (a, b), c = bigrams.most_common(1)[0]
        top_bigram = (len(a) + len(b)) * c / (sum(map(len, lw)) or 1) if c > 1 else 0.0
        dup5 = _repeated_5gram_coverage(lw)

    in_code = False
    junk = considered = 0
    for ln, n_letters in zip(lines, lines_letters, strict=True):
        if ln.startswith("```"):
            in_code = not in_code
            continue
        if in_code or "|" in ln:
            continue
        considered += 1
        if n_letters < 0.3 * (len(ln) - ln.count(" ")):
            junk += 1
    return {
        "n_words": float(words_n),
        "alpha_ratio": alpha / (n_non_space or 1),
        "mean_word_len": n_non_space / words_n if words_n else 0.0,
        "dup_line_frac": dup_line_chars / total_line_chars,
        "top_bigram_frac": top_bigram,
        "dup_5gram_frac": dup5,
        "junk_line_frac": junk / considered if considered else 0.0,
    }


def _repeated_5gram_coverage(words: list[str]) -> float:
    """Share of the words that lie inside a word 5-gram occurring more than once."""
    first: dict[str, int] = {}  # a word's id: the position where it first occurs
    ids = np.fromiter(map(first.setdefault, words, itertools.count()), dtype=np.int64,
                      count=len(words))
    grams = np.lib.stride_tricks.sliding_window_view(ids, 5)
    vocab = len(words)
    if vocab ** 5 < 2**63:  # one exact integer key per 5-gram
        keys = grams @ (vocab ** np.arange(5, dtype=np.int64))
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    else:
        _, inverse, counts = np.unique(grams, axis=0, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse.ravel()] > 1)
    marks = np.zeros(len(words) + 1, dtype=np.int64)
    marks[repeated] += 1  # gram positions are distinct, so plain fancy indexing adds
    marks[repeated + 5] -= 1
    return float((np.cumsum(marks[:-1]) > 0).sum() / len(words))


def signal_scores(sig: dict[str, float]) -> dict[str, float]:
    mwl = sig["mean_word_len"]
    return {
        "alpha_ratio": _ramp(sig["alpha_ratio"], 0.25, 0.55),
        "mean_word_len": _ramp(mwl, 1.5, 3.0) if mwl < 3 else _ramp(mwl, 25.0, 12.0),
        "dup_line_frac": _ramp(sig["dup_line_frac"], 0.5, 0.15),
        "top_bigram_frac": _ramp(sig["top_bigram_frac"], 0.4, 0.15),
        "dup_5gram_frac": _ramp(sig["dup_5gram_frac"], 0.8, 0.35),
        "junk_line_frac": _ramp(sig["junk_line_frac"], 0.8, 0.4),
    }


def assess(
    text: str, threshold: float, min_words: int
) -> tuple[float, dict[str, float], str | None]:
    """(score, signals, drop reason or None)."""
    sig = quality_signals(text)
    scores = signal_scores(sig)
    worst = min(scores, key=lambda k: scores[k])
    score = scores[worst]
    sig_out = {k: round(v, 4) for k, v in sig.items()}
    if sig["n_words"] < min_words:
        return score, sig_out, "too_short"
    if score < threshold:
        return score, sig_out, f"low_quality:{worst}"
    return score, sig_out, None
