"""Benchmark items: shared text helpers, validation, and the quality gates.

An item has exactly four options A-D and 1-4 correct ones; the answer is the sorted letters
("AC"). Every gate returns ``None`` (pass) or ``"<reason>: <detail>"``, so the stage counts
and writes down each rejection.
"""

from __future__ import annotations

import random
import re
from difflib import SequenceMatcher

LETTERS = "ABCD"
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def seeded_rng(seed: int, *parts: str) -> random.Random:
    """A generator fixed by the seed and what it is for (an item's choices never depend on
    what else is built)."""
    return random.Random(f"{seed}:{':'.join(parts)}")


def trim_words(text: str, n: int) -> str:
    """The first ``n`` words of ``text`` (with an ellipsis when cut), whitespace collapsed."""
    parts = text.split()
    return " ".join(parts) if len(parts) <= n else " ".join(parts[:n]).rstrip(",;:") + " …"


def answer_letters(indices) -> str:
    return "".join(sorted(LETTERS[i] for i in indices))


def rotate_key(options: list[str], answer: str, target: int) -> tuple[list[str], str]:
    """(options, answer) with the options rotated, cyclic order kept, so the single key
    ``answer`` sits at position ``target``."""
    shift = (target - LETTERS.index(answer)) % len(options)
    return options[-shift:] + options[:-shift] if shift else list(options), LETTERS[target]


def validate(item: dict, min_words: int = 40, max_words: int = 100) -> str | None:
    """Schema and letters: 4 distinct non-empty options, answer = 1-4 sorted unique letters."""
    opts = item.get("options") or []
    if len(opts) != 4 or any(not (o or "").strip() for o in opts):
        return "invalid_item: exactly four non-empty options are required"
    if len({o.strip().lower() for o in opts}) != 4:
        return "invalid_item: two options are the same"
    ans = item.get("answer") or ""
    if not ans or any(c not in LETTERS for c in ans) or len(set(ans)) != len(ans) \
            or "".join(sorted(ans)) != ans:
        return f"invalid_item: answer {ans!r} is not 1-4 sorted unique letters from A-D"
    n = len(words(item.get("question", "")))
    if not min_words <= n <= max_words:
        return f"question_length: {n} words, expected {min_words}-{max_words}"
    return None


def length_balance(options: list[str], tolerance: float = 0.2) -> str | None:
    """Every option's length within ±tolerance of the options' mean length."""
    lengths = [len(o) for o in options]
    mean = sum(lengths) / len(lengths)
    worst = max(abs(n - mean) / mean for n in lengths)
    if worst > tolerance:
        return (f"length_imbalance: option lengths {lengths} deviate up to {worst:.0%} from "
                f"their mean (limit {tolerance:.0%})")
    return None


_TEXTBOOK = re.compile(r"\b(because|therefore|which|thus|due to|in order to|always|never|"
                       r"only|all)\b", re.I)


def blind_guesses(options: list[str]) -> dict[str, str]:
    """What a solver that sees only the options' form (not the question) would answer.

    Each heuristic returns a letter set, or nothing when the form gives no signal (ties)."""
    out: dict[str, str] = {}
    lengths = [len(o) for o in options]
    if lengths.count(max(lengths)) == 1:
        out["longest"] = LETTERS[lengths.index(max(lengths))]
    mean = sum(lengths) / 4
    longer = [i for i, n in enumerate(lengths) if n > mean * 1.05]
    if 0 < len(longer) < 4:
        out["longer_than_mean"] = answer_letters(longer)
    marks = [len(_TEXTBOOK.findall(o)) for o in options]
    if max(marks) > 0 and marks.count(max(marks)) == 1:
        out["most_textbook"] = LETTERS[marks.index(max(marks))]
    return out


def blind_check(item: dict) -> str | None:
    """Reject an item whose key a form-only solver recovers exactly."""
    for name, guess in blind_guesses(item["options"]).items():
        if guess == item["answer"]:
            return f"guessable_key: the {name!r} heuristic finds the key {guess} from form alone"
    return None


def normalized(item: dict) -> str:
    return " ".join(words(item["question"] + " " + " ".join(item["options"])))


def near_duplicate(a: str, b: str) -> bool:
    """The reference's fuzzy rule, on normalized text: ratio ≥ 0.92, or token Jaccard ≥ 0.88,
    or (ratio ≥ 0.82 and Jaccard ≥ 0.75)."""
    ta, tb = set(a.split()), set(b.split())
    jac = len(ta & tb) / max(1, len(ta | tb))
    if jac >= 0.88:
        return True
    if jac < 0.5:  # cheap exit: SequenceMatcher cannot reach 0.92 here in practice
        return False
    ratio = SequenceMatcher(None, a, b, autojunk=False).ratio()
    return ratio >= 0.92 or (ratio >= 0.82 and jac >= 0.75)
