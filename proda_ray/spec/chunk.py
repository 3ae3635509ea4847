"""Structure-aware chunking with a real token budget.

1. ``parse_blocks`` splits normalized text into blocks at blank lines: headings (Markdown
   ``#`` or a short title-like line on its own), paragraphs, lists, tables and fenced code.
2. ``_units`` turns blocks into packing units: a block within budget is one unit; a bigger one
   is split by lines (lists, tables, code) or sentences (paragraphs), and any piece still too
   big is cut at token boundaries.
   With ``max_chars``, a unit longer than that is also cut by characters (text a tokenizer
   reads as a few huge "words").
3. ``chunk_text`` packs units greedily up to ``max_tokens`` (and ``max_chars``); it prefers
   to close a chunk before a heading once the chunk holds ``min_tokens``, never ends a chunk
   on a heading when it can avoid it, and starts each next chunk with up to
   ``overlap_tokens`` of the previous one.

Invariants (property-tested): ``text[c.start:c.end] == c.text``; every chunk's standalone
token count is within the budget; every non-whitespace character of the document is inside
some chunk.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

from tokenizers import Tokenizer

_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_MD_HEADING = re.compile(r"#{1,6} +\S")
_LIST_ITEM = re.compile(r"\s*(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)]) +\S")
# sentence end = terminal punctuation, any closing quotes/brackets, then whitespace (group 1)
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*(\s+)(?=\S)")


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    kind: str  # heading | paragraph | list | table | code
    level: int = 0  # heading level (1 = title)


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str
    n_tokens: int
    section_path: tuple[str, ...]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _segments(text: str) -> list[tuple[int, int]]:
    """Non-blank spans between blank lines, with fenced code blocks kept whole."""
    spans, pos = [], 0
    for m in _BLANK_LINES.finditer(text):
        spans.append(_trimmed(text, pos, m.start()))
        pos = m.end()
    spans.append(_trimmed(text, pos, len(text)))
    spans = [s for s in spans if s[0] < s[1]]
    merged: list[tuple[int, int]] = []
    open_fence = False
    for s, e in spans:
        fences = text[s:e].count("```")
        if open_fence:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
        if fences % 2 == 1:
            open_fence = not open_fence
    return merged


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 14
        and len(line) <= 100
        and line[0].isupper()
        and line[-1] not in ".,;:!?)\"'"
        and "|" not in line
        and not _LIST_ITEM.match(line)
        and sum(ch.isalpha() for ch in line) >= 0.6 * len(line.replace(" ", ""))
    )


def parse_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    for s, e in _segments(text):
        seg = text[s:e]
        lines = seg.split("\n")
        first = lines[0].strip()
        if seg.startswith("```"):
            blocks.append(Block(s, e, "code"))
        elif _MD_HEADING.match(first):
            level = len(first) - len(first.lstrip("#"))
            h_end = s + len(lines[0].rstrip())
            blocks.append(Block(s, h_end, "heading", level))
            if len(lines) > 1:
                rs, re_ = _trimmed(text, h_end, e)
                if rs < re_:
                    blocks.append(Block(rs, re_, _body_kind(text[rs:re_].split("\n"))))
        elif len(lines) == 1 and _looks_like_heading(first):
            blocks.append(Block(s, e, "heading", 1 if not blocks else 2))
        else:
            blocks.append(Block(s, e, _body_kind(lines)))
    return blocks


def _body_kind(lines: list[str]) -> str:
    if all(_LIST_ITEM.match(ln) for ln in lines if ln.strip()):
        return "list"
    if len(lines) > 1 and sum("|" in ln for ln in lines) >= 0.8 * len(lines):
        return "table"
    return "paragraph"


def heading_text(text: str, block: Block) -> str:
    return text[block.start : block.end].lstrip("#").strip()


_BOUNDARY = " \t\n\r"  # what both Python and BERT's pre-tokenizer call whitespace


def _word_local(tok: Tokenizer) -> bool:
    """Whether a span bounded by whitespace tokenizes alone exactly as it does inside its
    document: WordPiece behind BERT's normalizer (per character) and a pre-tokenizer that
    splits at whitespace, so no token crosses a whitespace boundary and none depends on what
    lies beyond it. Byte-level BPE, SentencePiece and the like fold the leading space into a
    token: their spans are encoded again."""
    return (type(tok.model).__name__ == "WordPiece"
            and type(tok.pre_tokenizer).__name__ in ("BertPreTokenizer", "Whitespace",
                                                     "WhitespaceSplit")
            and type(tok.normalizer).__name__ in ("BertNormalizer", "NoneType"))


class _TokenIndex:
    """Token counts of any span of one document from a single tokenization pass."""

    def __init__(self, tok: Tokenizer, text: str):
        enc = tok.encode(text, add_special_tokens=False)
        self.starts = [s for s, _ in enc.offsets]
        self.ends = [e for _, e in enc.offsets]
        self.text = text
        self.word_local = _word_local(tok)

    def standalone(self, tok: Tokenizer, start: int, end: int) -> int:
        """Tokens of ``text[start:end]`` encoded on its own. For a word-local tokenizer and a
        span with whitespace (or the text's edge) on both sides, that is the span's count in
        the document's single pass; otherwise the span is encoded again."""
        t = self.text
        if (self.word_local and (start == 0 or t[start - 1] in _BOUNDARY)
                and (end == len(t) or t[end] in _BOUNDARY)):
            return self.count(start, end)
        return _count(tok, t[start:end])

    def count(self, start: int, end: int) -> int:
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_right(self.ends, end)
        return max(0, hi - lo)

    def cut_points(self, start: int, end: int, per_piece: int) -> list[int]:
        """Character offsets that cut [start, end) into pieces of ~per_piece tokens."""
        lo = bisect.bisect_left(self.starts, start)
        hi = bisect.bisect_right(self.ends, end)
        return [self.starts[i] for i in range(lo + per_piece, hi, per_piece)]


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    heading_level: int  # 0 for non-heading units
    path: tuple[str, ...]  # section path at this unit


def _split_spans(text: str, s: int, e: int, kind: str) -> list[tuple[int, int]]:
    if kind in ("list", "table", "code"):
        bounds, pos = [], s
        for m in re.finditer(r"\n", text[s:e]):
            bounds.append((pos, s + m.start()))
            pos = s + m.end()
        bounds.append((pos, e))
    else:
        bounds, pos = [], s
        for m in _SENTENCE_END.finditer(text, s, e):
            bounds.append((pos, m.start(1)))
            pos = m.end(1)
        bounds.append((pos, e))
    return [t for t in (_trimmed(text, a, b) for a, b in bounds) if t[0] < t[1]]


def _char_pieces(text: str, s: int, e: int, max_chars: int) -> list[tuple[int, int]]:
    """[s, e) in pieces of at most ``max_chars``, cut at the last whitespace of each piece's
    second half when it has one (a 2 MB run without spaces is one "word" to WordPiece)."""
    out = []
    while e - s > max_chars:
        cut = s + max_chars
        ws = max(text.rfind(" ", s + max_chars // 2, cut), text.rfind("\n", s + max_chars // 2,
                                                                   cut))
        cut = ws if ws > s else cut
        a, z = _trimmed(text, s, cut)
        if a < z:
            out.append((a, z))
        s = cut
    a, z = _trimmed(text, s, e)
    if a < z:
        out.append((a, z))
    return out


def _units(text: str, blocks: list[Block], idx: _TokenIndex, budget: int,
           max_chars: int | None = None) -> list[_Unit]:
    units = _token_units(text, blocks, idx, budget)
    if max_chars is None or all(u.end - u.start <= max_chars for u in units):
        return units
    return [_Unit(a, z, u.heading_level, u.path) for u in units
            for a, z in (_char_pieces(text, u.start, u.end, max_chars)
                         if u.end - u.start > max_chars else [(u.start, u.end)])]


def _token_units(text: str, blocks: list[Block], idx: _TokenIndex, budget: int
                 ) -> list[_Unit]:
    hard = max(1, int(budget * 0.9))  # head-room: a piece re-tokenized alone may grow a little
    units: list[_Unit] = []
    stack: list[tuple[int, str]] = []
    for b in blocks:
        if b.kind == "heading":
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, heading_text(text, b)))
        path = tuple(h for _, h in stack)
        level = b.level if b.kind == "heading" else 0
        if idx.count(b.start, b.end) <= budget:
            units.append(_Unit(b.start, b.end, level, path))
            continue
        for s, e in _split_spans(text, b.start, b.end, b.kind):
            if idx.count(s, e) <= hard:
                units.append(_Unit(s, e, level, path))
                continue
            cuts = [s, *idx.cut_points(s, e, hard), e]
            for a, z in itertools.pairwise(cuts):
                a, z = _trimmed(text, a, z)
                if a < z:
                    units.append(_Unit(a, z, level, path))
    return units


def chunk_text(
    text: str,
    tok: Tokenizer,
    max_tokens: int,
    overlap_tokens: int = 0,
    min_tokens: int = 0,
    max_chars: int | None = None,
) -> list[Chunk]:
    """Chunks of ``text`` (see the module docstring for the rules and invariants); with
    ``max_chars``, no chunk is longer than that either, whatever its token count."""
    if not text.strip():
        return []
    idx = _TokenIndex(tok, text)
    units = _units(text, parse_blocks(text), idx, max_tokens, max_chars)
    chunks: list[Chunk] = []
    i, n = 0, len(units)
    while i < n:
        j = i + 1
        while j < n:
            u = units[j]
            if u.heading_level and idx.count(units[i].start, units[j - 1].end) >= min_tokens:
                break  # close at a section boundary once the chunk holds enough
            if idx.count(units[i].start, u.end) > max_tokens:
                break
            if max_chars is not None and u.end - units[i].start > max_chars:
                break
            j += 1
        while j - 1 > i and units[j - 1].heading_level:
            j -= 1  # a chunk never ends on a heading it could leave to the next one
        j, n_tokens = _fit_standalone(idx, tok, units, i, j, max_tokens)
        start, end = units[i].start, units[j - 1].end
        chunks.append(Chunk(start, end, text[start:end], n_tokens, units[i].path))
        if j >= n:
            break
        k = j
        while k - 1 > i and idx.count(units[k - 1].start, units[j - 1].end) <= overlap_tokens:
            k -= 1
        i = k
    return chunks


def _count(tok: Tokenizer, s: str) -> int:
    return len(tok.encode(s, add_special_tokens=False).ids)


def _fit_standalone(idx: _TokenIndex, tok: Tokenizer, units: list[_Unit], i: int, j: int,
                    budget: int) -> tuple[int, int]:
    """Shrink [i, j) until the chunk re-tokenized on its own fits the budget.

    Returns (j, standalone token count). A single unit is never dropped: units were cut to
    90% of the budget, which absorbs the boundary effects of re-tokenizing a span alone.
    """
    while True:
        n = idx.standalone(tok, units[i].start, units[j - 1].end)
        if n <= budget or j - 1 == i:
            return j, n
        j -= 1
