"""The authors' own exercises: harvested from text written for the test and from the shared
OpenStax corpus (at test time, never copied)."""

from __future__ import annotations

import gzip
import json

import pytest

from proda_ray.tester.reference import harvest, reference_items

TEXT = """Review Questions

Which gas do green plants release during photosynthesis?

1. nitrogen
2. oxygen
3. argon
4. methane

Solution: B

Which structure in the figure stores water?

1. A
2. B
3. C
4. D

Solution: C

Name two products of respiration.

Solution: carbon dioxide and water

Which of these is a noble gas?

1. neon
2. sodium
3. chlorine

Solution: A
"""


def test_keyed_four_option_exercises_are_harvested_and_the_rest_counted():
    items, skipped = harvest(TEXT)
    assert items == [{"question": "Which gas do green plants release during photosynthesis?",
                      "options": ["nitrogen", "oxygen", "argon", "methane"], "answer": "B"}]
    # an open exercise ("Solution: carbon dioxide …") is no keyed item and is not counted
    assert skipped == {"needs_unseen_context": 1, "not_four_options": 1}
    rows, _ = reference_items([{"doc_id": "doc-1", "text": TEXT, "discipline_code": "006",
                                "title": "Plants"}, {"doc_id": "doc-2", "text": TEXT}])
    assert len(rows) == 1 and rows[0]["split"] == "reference"  # the reprint counts once


def test_the_shared_corpus_yields_reference_items_per_book(openstax):
    per_book = {}
    for book in ("006_microbiology", "014_introduction-sociology-3e", "015_psychology-2e"):
        n = 0
        with gzip.open(openstax / f"{book}.jsonl.gz", "rt") as f:
            for k, line in enumerate(f):
                if k >= 60:
                    break
                items, _ = harvest(json.loads(line)["text"])
                for it in items:  # every kept item is a complete, keyed 4-option question
                    assert len(it["options"]) == 4 and it["answer"] in "ABCD"
                    assert it["question"].strip()
                n += len(items)
        per_book[book] = n
    assert all(n >= 20 for n in per_book.values()), per_book


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
