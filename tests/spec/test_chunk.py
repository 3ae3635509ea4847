"""Chunking invariants, property-tested on generated and real (OpenStax) text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proda_ray.spec.chunk import chunk_text, parse_blocks
from proda_ray.tokenizer import count_tokens, load_tokenizer
from tests.conftest import openstax_texts

TOK = load_tokenizer("minilm")

words = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S"]),
                min_size=1, max_size=14)
line = st.lists(words, min_size=1, max_size=30).map(" ".join)
block = st.one_of(
    line,  # paragraph or heading-like line
    st.lists(line, min_size=1, max_size=6).map(lambda ls: "\n".join(f"- {x}" for x in ls)),
    st.lists(line, min_size=2, max_size=5).map(lambda ls: "\n".join(f"{x} | {x}" for x in ls)),
    line.map(lambda x: f"## {x}"),
    st.lists(line, min_size=1, max_size=8).map(". ".join),
)
documents = st.lists(block, min_size=1, max_size=25).map("\n\n".join)


def check_invariants(text: str, max_tokens: int, overlap: int, min_tokens: int) -> None:
    chunks = chunk_text(text, TOK, max_tokens, overlap, min_tokens)
    covered = [False] * len(text)
    prev_start = -1
    for c in chunks:
        # offsets reproduce the text
        assert text[c.start : c.end] == c.text
        # the budget holds for the chunk tokenized on its own
        assert c.n_tokens == count_tokens(TOK, c.text) <= max_tokens
        # chunks move forward
        assert c.start > prev_start
        prev_start = c.start
        for i in range(c.start, c.end):
            covered[i] = True
    # nothing lost: every non-whitespace character is in some chunk
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not lost, f"lost {len(lost)} chars, first at {lost[0]}: {text[lost[0]:lost[0]+40]!r}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.integers(16, 300), st.integers(0, 8), st.floats(0, 1))
def test_chunk_invariants_generated(text, max_tokens, overlap, fill):
    check_invariants(text, max_tokens, min(overlap, max_tokens // 2), int(fill * max_tokens))


@pytest.mark.parametrize("max_tokens,overlap", [(64, 8), (256, 32), (1024, 64)])
def test_chunk_invariants_openstax(max_tokens, overlap):
    texts = openstax_texts(limit=12)
    if not texts:
        pytest.skip("OpenStax corpus not available")
    for text in texts:
        check_invariants(text, max_tokens, overlap, max_tokens // 2)


def test_unbreakable_text_is_cut_at_token_boundaries():
    text = "x" * 5000 + " " + "y" * 3000  # no sentence or line boundaries at all
    check_invariants(text, 32, 4, 0)


def test_overlap_repeats_the_tail_of_the_previous_chunk():
    text = "\n\n".join(f"Sentence number {i} talks about topic {i}." for i in range(60))
    chunks = chunk_text(text, TOK, 64, 16, 0)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "consecutive chunks should overlap"


def test_structure_headings_and_section_paths():
    text = (
        "# Title\n\nIntro paragraph about the whole topic here.\n\n"
        "## Part One\n\n" + "Body of part one. " * 40 + "\n\n"
        "## Part Two\n\n" + "Body of part two. " * 40
    )
    blocks = parse_blocks(text)
    kinds = [b.kind for b in blocks]
    assert kinds[0] == "heading" and blocks[0].level == 1
    assert kinds.count("heading") == 3
    chunks = chunk_text(text, TOK, 160, 0, 60)
    paths = [c.section_path for c in chunks]
    assert ("Title", "Part Two") in paths
    # a chunk never ends on a heading
    for c in chunks:
        assert not c.text.rstrip().split("\n")[-1].startswith("#")


def test_lists_tables_and_code_are_blocks():
    text = "- a item\n- b item\n\nx | y\n1 | 2\n\n```\ncode\n\nmore code\n```\n\nPlain text."
    kinds = [b.kind for b in parse_blocks(text)]
    assert kinds == ["list", "table", "code", "paragraph"]


def test_empty_text_has_no_chunks():
    assert chunk_text("   \n\n ", TOK, 64) == []
