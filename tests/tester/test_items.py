"""Item gates: schema/letters, question length, option-length balance, blind check, dedup."""

from __future__ import annotations

from proda_ray.tester.items import (
    blind_check,
    length_balance,
    near_duplicate,
    normalized,
    validate,
)

Q = " ".join(["word"] * 50)


def item(**kw):
    base = {"question": Q, "options": ["alpha one", "beta two", "gamma 3", "delta 4"],
            "answer": "AC"}
    return base | kw


def test_validate_letters_and_options():
    assert validate(item()) is None
    assert validate(item(answer="CA")).startswith("invalid_item")  # not sorted
    assert validate(item(answer="AE")).startswith("invalid_item")
    assert validate(item(answer="")).startswith("invalid_item")
    assert validate(item(answer="AAB")).startswith("invalid_item")
    assert validate(item(options=["a", "b", "c"])).startswith("invalid_item")
    assert validate(item(options=["a", "b", "c", "A"])).startswith("invalid_item")
    assert validate(item(options=["a", "b", "c", " "])).startswith("invalid_item")
    assert validate(item(question="too short")).startswith("question_length")
    assert validate(item(question=" ".join(["w"] * 101))).startswith("question_length")
    assert validate(item(answer="ABCD")) is None


def test_length_balance():
    assert length_balance(["x" * 10, "y" * 11, "z" * 9, "w" * 10]) is None
    assert length_balance(["x" * 10, "y" * 10, "z" * 10, "w" * 20]).startswith(
        "length_imbalance")


def test_blind_check_catches_a_longest_correct_option():
    longest_right = {"options": ["short a", "short b", "a much longer correct option", "c"],
                     "answer": "C"}
    assert blind_check(longest_right).startswith("guessable_key")
    uniform = {"options": ["Event I occurs before event II.", "Event II occurs before event I.",
                           "Event I occurs before event III.",
                           "Event III occurs before event I."], "answer": "AC"}
    assert blind_check(uniform) is None  # equal forms carry no signal


def test_near_duplicate_rule():
    a = normalized(item())
    b = normalized(item(question=Q + " extra"))
    assert near_duplicate(a, b)
    c = normalized(item(question=" ".join(f"w{i}" for i in range(50))))
    assert not near_duplicate(a, c)
