"""Grounding: every L2 statement's ``source_quote`` must be found in its chunk.

``sentences`` gives the chunk's own sentences with offsets: the extractor constrains quotes to
them (a JSON-schema ``enum``), so a constrained engine cannot paraphrase. ``locate_quote``
checks every quote anyway, since unconstrained engines (hosted APIs) can: first exactly, then
with whitespace, case, quotes and dashes normalized, mapping the match back to offsets in the
original chunk text. A quote found neither way rejects its statement (``ungrounded_quote``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENT_END = re.compile(r"[.!?…][\"')\]]*(\s+)(?=\S)|\n+")
_TRANS = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-"})


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def sentences(text: str, max_chars: int = 400) -> list[Span]:
    """Sentences (and list/table lines) of ``text`` with offsets; long ones are skipped."""
    out, pos = [], 0
    for m in _SENT_END.finditer(text):
        end = m.start(1) if m.lastindex else m.start()
        _add(out, text, pos, end, max_chars)
        pos = m.end()
    _add(out, text, pos, len(text), max_chars)
    return out


def _add(out: list[Span], text: str, s: int, e: int, max_chars: int) -> None:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e - s >= 12 and e - s <= max_chars and sum(c.isalpha() for c in text[s:e]) >= 8:
        out.append(Span(s, e, text[s:e]))


def _normalized(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with unified quotes/dashes and single spaces, plus an index map."""
    chars, index = [], []
    prev_space = True
    for i, ch in enumerate(text.translate(_TRANS)):
        if ch.isspace():
            if not prev_space:
                chars.append(" ")
                index.append(i)
            prev_space = True
            continue
        chars.append(ch.lower())
        index.append(i)
        prev_space = False
    return "".join(chars), index


def locate_quote(quote: str, text: str) -> tuple[int, int, str] | None:
    """(start, end, "exact" | "normalized") of ``quote`` in ``text``, or None."""
    q = quote.strip()
    if len(q) < 8:
        return None
    i = text.find(q)
    if i >= 0:
        return i, i + len(q), "exact"
    nt, index = _normalized(text)
    nq, _ = _normalized(q)
    nq = nq.strip()
    j = nt.find(nq)
    if j < 0 or not nq:
        return None
    return index[j], index[j + len(nq) - 1] + 1, "normalized"


_PHRASE_STOP = {
    "the", "a", "an", "of", "and", "or", "but", "to", "in", "on", "at", "by", "for", "with",
    "from", "into", "onto", "as", "is", "are", "was", "were", "be", "been", "being", "it",
    "its", "this", "that", "these", "those", "there", "their", "they", "them", "which", "who",
    "whom", "whose", "what", "when", "where", "while", "so", "than", "then", "also", "can",
    "could", "may", "might", "must", "should", "would", "will", "do", "does", "did", "has",
    "have", "had", "not", "no", "if", "because", "such", "each", "every", "some", "any",
    "more", "most", "very", "only", "other", "both", "all", "one", "two", "we", "you", "he",
    "she", "his", "her", "our", "your", "up", "out", "over", "through", "about", "after",
    "before", "between", "during", "without", "within", "per", "via", "how", "why",
}
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*|\d+(?:\.\d+)?")


def phrases(sentence: str, max_words: int = 4, limit: int = 24) -> list[str]:
    """Candidate noun-ish phrases of a sentence: runs of non-function words (verbatim text).

    A run contributes itself (or, when longer than ``max_words``, its first and last
    ``max_words`` words), its two-word windows when it has more than two words (noun phrases
    inside runs that contain a verb: "attaches carbon dioxide" -> "carbon dioxide"), and its
    last word (usually the head noun).
    """
    runs: list[list[re.Match]] = [[]]
    for m in _TOKEN.finditer(sentence):
        if m.group().lower() in _PHRASE_STOP:
            runs.append([])
        else:
            runs[-1].append(m)
    out: list[str] = []
    for run in runs:
        if not run:
            continue
        spans = [run] if len(run) <= max_words else [run[:max_words], run[-max_words:]]
        if len(run) > 2:
            spans += [run[i : i + 2] for i in range(len(run) - 1)]
        if len(run) > 1:
            spans.append(run[-1:])
        for sp in spans:
            text = sentence[sp[0].start() : sp[-1].end()]
            if any(len(w) >= 3 and w.isalpha() for w in text.split()) and text not in out:
                out.append(text)
    return out[:limit]
