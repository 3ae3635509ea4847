"""The authors' own exercises: harvested from text written for the test and from the shared
OpenStax corpus (at test time, never copied)."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest

from proda_ray.tester.reference import balance_key, harvest, reference_items

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
    # the options may be rotated, but the keyed option is still "oxygen"
    assert rows[0]["options"][ord(rows[0]["answer"]) - ord("A")] == "oxygen"
    assert sorted(rows[0]["options"]) == sorted(["nitrogen", "oxygen", "argon", "methane"])


def test_key_positions_are_balanced_and_positional_options_keep_their_order():
    # 400 items all keyed "C" by their authors: after balancing every letter holds the key
    # about a quarter of the time, and each key is still the authors' option
    keys = Counter()
    for n in range(400):
        opts = [f"w{n}", f"x{n}", f"y{n}", f"z{n}"]
        new, ans, rotated = balance_key(f"item-{n}", opts, "C")
        assert rotated and new[ord(ans) - 65] == f"y{n}"
        assert any(new == opts[r:] + opts[:r] for r in range(4))  # cyclic order kept
        keys[ans] += 1
    assert set(keys) == set("ABCD") and all(70 <= v <= 130 for v in keys.values()), keys
    for opts in (["red", "blue", "green", "all of the above"],
                 ["red", "blue", "both A and B", "green"], ["1", "2", "3", "1 and 2"]):
        assert balance_key("item-x", opts, "D") == (opts, "D", False)


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


def test_the_shared_corpus_reference_keys_are_balanced(openstax):
    docs = []
    for book in ("006_microbiology", "014_introduction-sociology-3e", "015_psychology-2e"):
        with gzip.open(openstax / f"{book}.jsonl.gz", "rt") as f:
            for k, line in enumerate(f):
                if k >= 60:
                    break
                d = json.loads(line)
                docs.append({"doc_id": f"{book}-{k}", "text": d["text"]})
    rows, _ = reference_items(docs)
    authors = Counter(it["answer"] for d in docs for it in harvest(d["text"])[0])
    shares = Counter(r["answer"] for r in rows)
    top = max(shares.values()) / len(rows)
    assert top < max(authors.values()) / sum(authors.values()) and top < 0.32, (authors, shares)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
