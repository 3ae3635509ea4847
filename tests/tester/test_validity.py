"""The validity suite flags a planted form-solvable question type and passes a type whose
options carry no surface signal (items written here, answers never derived by the suite's
own code)."""

from __future__ import annotations

import random

from proda_ray.tester.validity import evaluate, heuristic_answers

WORDS = ("enzyme", "membrane", "protein", "gradient", "channel", "pump", "signal",
         "receptor", "ligand", "vesicle", "nucleus", "ribosome", "strand", "primer",
         "plasmid", "colony", "medium", "culture", "agar", "toxin")


def _phrase(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _items(kind: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        stem = "Consider the process. " + " ".join(_phrase(rng, 6) for _ in range(4)) + \
            " Which of the following holds?"
        key = rng.randrange(4)
        if kind == "longest_is_key":  # planted: the key is always the long option
            opts = [_phrase(rng, 12 if j == key else 5) for j in range(4)]
        else:  # no signal: same length, words drawn alike for key and distractors
            opts = [_phrase(rng, 7) for _ in range(4)]
        out.append({"item_id": f"{kind}-{i}", "chain_id": f"c{i // 2}", "question": stem,
                    "options": opts, "answer": "ABCD"[key], "question_type": kind})
    return out


def test_a_planted_form_solvable_type_is_flagged():
    rep = evaluate(_items("longest_is_key", 120, 1) + _items("balanced", 160, 2))
    planted, fair = rep["types"]["longest_is_key"], rep["types"]["balanced"]
    assert planted["form_solvable"] and planted["solvers"]["longest"]["accuracy"] == 1.0
    assert planted["best_minus_prior"] > 0.5
    assert not fair["form_solvable"], fair
    solvable = {x["item_id"] for x in rep["form_solvable_items"]}
    assert len([s for s in solvable if s.startswith("longest")]) >= 100
    assert len([s for s in solvable if s.startswith("balanced")]) <= 8


def test_order_in_stem_reads_the_order_the_stem_gives():
    item = {"question": "Step 1: glucose enters the cell. Step 2: pyruvate forms in the "
                        "cytoplasm. Step 3: carbon dioxide leaves the mitochondrion.",
            "options": ["Glucose enters leads to carbon dioxide leaves.",
                        "Carbon dioxide leaves leads to glucose enters.",
                        "Pyruvate forms leads to carbon dioxide leaves.",
                        "Carbon dioxide leaves leads to pyruvate forms."],
            "answer": "AC"}
    assert heuristic_answers(item)["order_in_stem"] == "AC"


def test_malformed_items_are_counted_not_a_crash():
    good = _items("balanced", 20, 3)
    bad = [{"question": "Which?", "options": ["a", "b", "c"], "answer": "A"},
           {"question": "Which?", "options": ["a", "b", "c", "d"], "answer": "E"},
           {"options": ["a", "b", "c", "d"], "answer": "A"}, "not an item"]
    rep = evaluate(good + bad)
    assert rep["types"]["balanced"]["n"] == 20
    assert sum(rep["invalid_items"].values()) == 4
    assert evaluate([])["types"] == {}
