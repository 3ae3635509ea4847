"""The independent leakage detector (``tests/leakage.py``) is red on planted leaks and green
on rows that only teach the corpus. Its green on real loop runs is asserted in the slow
end-to-end tests (``test_loop_e2e``, ``tester/test_bench_build_e2e``)."""

from __future__ import annotations

import pytest

from proda_ray.tester.compile import compile_unit, finalize, pools
from proda_ray.tester.config import BenchConfig
from tests.leakage import find_leaks
from tests.tester.test_closed_book import DEFS, SENTENCES, blood_chunk, concepts, statements

# the corpus the core came from, as a textbook would word it
CORPUS = [f"{t.capitalize()} is {d}." for t, d in DEFS.items()] + SENTENCES


@pytest.fixture(scope="module")
def items() -> list[dict]:
    cfg = BenchConfig(validity="report")
    st = statements()
    out = compile_unit([], st, pools([], st), cfg, chunks=[blood_chunk()],
                       concepts=concepts())
    return finalize(out.items, cfg).items


def _of(items: list[dict], kind: str) -> dict:
    return next(i for i in items if i["question_type"] == kind)


def _row(prompt: str, response: str, n: int = 0) -> dict:
    return {"id": f"row-{n}", "prompt": prompt, "response": response}


def test_rows_that_teach_the_corpus_are_clean(items):
    rows = [_row(f"In Biology, what is {t}?", f"{t.capitalize()} is {d}.", k)
            for k, (t, d) in enumerate(DEFS.items())]
    rows += [_row("State a fact about blood.", s, 100 + k) for k, s in enumerate(SENTENCES)]
    assert find_leaks(items, rows, CORPUS) == []


@pytest.mark.parametrize("case", ["question", "option_set", "explanation", "framing",
                                  "paraphrase"])
def test_planted_leaks_are_caught(items, case):
    d, t = _of(items, "definition_match"), _of(items, "term_match")
    key = d["options"][ord(d["answer"]) - 65]
    row = {
        # the item's question, verbatim, with its answer
        "question": _row(d["question"], key),
        # the item's four options, in another order, as a quiz of its own
        "option_set": _row("Pick the right one:\n" + "\n".join(reversed(d["options"])), "B"),
        # the explanation's wording copied into a response
        "explanation": _row("Explain.", d["explanation"]),
        # the term_match template's framing around a definition of the corpus
        "framing": _row(t["question"].replace("Biology", "biology"), "No idea."),
        # the question reworded, with its key
        "paraphrase": _row(d["question"].replace("which of the following is",
                                                 "which one of these is"), key),
    }[case]
    leaks = find_leaks(items, [row], CORPUS)
    assert leaks, case
    kinds = {x["kind"] for x in leaks}
    want = {"question": "question", "option_set": "option_set", "explanation": "item_ngram",
            "framing": "item_ngram", "paraphrase": "paraphrase"}[case]
    assert want in kinds, (case, kinds)
