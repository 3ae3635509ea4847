"""The authors' own questions: keyed multiple-choice exercises harvested from the corpus.

Many textbooks end a section with review questions: a question, numbered options and a key
("Solution: C"). These are an external check on the generated benchmark — written by the
domain's authors, not by proda — so every model is also scored on them, and a user sees
whether the generated benchmark ranks models as the authors' questions do.

Only self-contained four-option items are kept: a question that points at a figure, table or
passage the model cannot see, an option list that is not 1-4, or a key outside the options is
a counted skip with a reason, never a guess.

The authors' key positions are not balanced (one book keys C far more often than A), so a
model with a position bias — an untrained model answers "A" to nearly everything — would be
scored on the authors' letter habits rather than on chance. Each item's options are therefore
rotated, keeping their cyclic order, so that its key lands on a letter drawn from the item's
id (balanced across items, the same on every run). An item whose options point at each other
by position ("all of the above", "both 1 and 2") keeps the authors' order.
"""

from __future__ import annotations

import re
from collections import Counter

from proda_ray.ids import content_hash, make_id
from proda_ray.tester.items import rotate_key

_SOLUTION = re.compile(r"^\s*Solution:\s*([A-Z])\s*$")
_OPTION = re.compile(r"^\s*(\d{1,2})[.)]\s+(\S.*)$")
_NEEDS_CONTEXT = re.compile(r"\b(figure|fig\.|table|graph|diagram|image|photo|shown|pictured|"
                            r"map|chart|screen ?shot|above passage|following passage|"
                            r"this passage)\b", re.I)
# an option that refers to other options by position or as a set: rotation would break it
_POSITIONAL = re.compile(r"\b(above|all of (these|them|the)|none of (these|them|the)|"
                         r"both|neither)\b", re.I)
_NAMES_OPTIONS = re.compile(r"\b[1-4A-D]\b.*\b(and|or)\b.*\b[1-4A-D]\b")  # "A and C"
def balance_key(item_id: str, options: list[str], answer: str
                ) -> tuple[list[str], str, bool]:
    """(options, answer, rotated): the options rotated so that the key sits on the letter
    the item's id draws; unchanged when an option refers to others by position."""
    if any(_POSITIONAL.search(o) or _NAMES_OPTIONS.search(o) for o in options):
        return options, answer, False
    options, answer = rotate_key(options, answer, int(content_hash("key_position", item_id),
                                                      16) % 4)
    return options, answer, True


def harvest(text: str) -> tuple[list[dict], Counter]:
    """(items, skipped reasons) from one document's text. An item: ``question``,
    ``options`` (4), ``answer`` (one letter)."""
    lines = text.splitlines()
    items, skipped = [], Counter()
    for i, line in enumerate(lines):
        m = _SOLUTION.match(line)
        if not m:
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        opts: list[tuple[int, str]] = []
        while j >= 0 and (o := _OPTION.match(lines[j])):
            opts.insert(0, (int(o.group(1)), o.group(2).strip()))
            j -= 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        question = lines[j].strip() if j >= 0 else ""
        if not opts:
            skipped["no_options"] += 1  # an open exercise with a worked solution
            continue
        if [n for n, _ in opts] != list(range(1, len(opts) + 1)) or len(opts) != 4:
            skipped["not_four_options"] += 1
            continue
        letter = m.group(1)
        if letter not in "ABCD":
            skipped["key_outside_options"] += 1
            continue
        if not question or _OPTION.match(question) or len(question.split()) < 3:
            skipped["no_question"] += 1
            continue
        if _NEEDS_CONTEXT.search(question):
            skipped["needs_unseen_context"] += 1
            continue
        texts = [o for _, o in opts]
        if len({t.lower() for t in texts}) < 4:
            skipped["repeated_option"] += 1
            continue
        items.append({"question": question, "options": texts, "answer": letter})
    return items, skipped


def reference_items(documents: list[dict], seen: set | None = None
                    ) -> tuple[list[dict], Counter]:
    """Rows of the ``reference`` split from documents (``doc_id``, ``text``,
    ``discipline_code``, ``title``), deduplicated by question and options (the same
    exercise in two documents, a reprint, counts once); ``seen``: the keys of earlier
    batches, updated in place."""
    rows, skipped = [], Counter()
    seen = set() if seen is None else seen
    for d in documents:
        got, why = harvest(d.get("text") or "")
        skipped.update(why)
        for it in got:
            key = (it["question"].lower(), tuple(o.lower() for o in it["options"]))
            if key in seen:
                skipped["duplicate"] += 1
                continue
            seen.add(key)
            item_id = make_id("item", "reference", d["doc_id"], it["question"], *it["options"])
            options, answer, rotated = balance_key(item_id, it["options"], it["answer"])
            if not rotated:
                skipped["authors_order_kept"] += 1  # kept, in the authors' order
            rows.append({"item_id": item_id,
                         "split": "reference", "chain_id": None, "statement_ids": [],
                         "concept_ids": [], "chunk_id": None, "doc_id": d["doc_id"],
                         "discipline_code": d.get("discipline_code"),
                         "question_type": "reference_mc", "level": None,
                         "explanation": f"The authors' key, from {d.get('title') or 'the text'}.",
                         "distractor_types": [], "generator": "reference",
                         "question": it["question"], "options": options, "answer": answer})
    return rows, skipped
