"""How a 4-option benchmark item is shown to a model, and which answers it admits.

One format for evaluation, probing and the lm-evaluation-harness export, so every model
compared sees the same prompt.
"""

from __future__ import annotations

from itertools import combinations

LETTERS = "ABCD"
ANSWER_SETS = [",".join(c) for n in range(1, 5) for c in combinations(LETTERS, n)]
MCQ_INSTRUCTION = ("Answer the multiple-choice question. One or more options may be correct; "
                   "answer with all correct letters, comma-separated.")
SINGLE_INSTRUCTION = ("Answer the multiple-choice question. Exactly one option is correct; "
                      "answer with its letter.")
# types whose stem asks for one option ("which of the following is the definition of …"):
# the model is told so, and scored over the four letters rather than the 15 sets
SINGLE_CHOICE = frozenset({"definition_match", "term_match", "step_after", "next_step",
                           "reference_mc"})


def single_choice(item: dict) -> bool:
    return item.get("question_type") in SINGLE_CHOICE


def answer_sets(item: dict) -> list[str]:
    """The answers an item admits: its four letters (single-choice types) or the 15 sets."""
    return list(LETTERS) if single_choice(item) else ANSWER_SETS


def mcq_prompt(item: dict) -> str:
    """The benchmark item as the evaluator shows it (shared with ``proda eval``)."""
    opts = "\n".join(f"{k}. {o}" for k, o in zip(LETTERS, item["options"], strict=True))
    head = SINGLE_INSTRUCTION if single_choice(item) else MCQ_INSTRUCTION
    return f"{head}\n\nQuestion: {item['question']}\n{opts}\nAnswer:"


def answer_set(letters: str) -> str:
    """"AC" or "A,C" -> "A,C" (the export's canonical answer string)."""
    return ",".join(sorted({c for c in letters.upper() if c in LETTERS}))
