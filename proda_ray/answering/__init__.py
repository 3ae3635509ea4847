"""Asking a model 4-option items: the prompt format, the answer parser, scoring modes."""

from proda_ray.answering.ask import (
    answer_items,
    engine_for,
    format_prompt,
    open_engine,
    scoring_mode,
)
from proda_ray.answering.parse import extract_answer, score
from proda_ray.answering.prompts import ANSWER_SETS, LETTERS, answer_sets, mcq_prompt

__all__ = ["ANSWER_SETS", "LETTERS", "answer_items", "answer_sets", "engine_for",
           "extract_answer", "format_prompt", "mcq_prompt", "open_engine", "score",
           "scoring_mode"]
