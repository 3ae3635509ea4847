"""Reading a model's answer to a 4-option, 1-4-correct item, and scoring it.

Models answer in many shapes: ``"A,C"``, ``"AC"``, ``"(B)"``, ``"**B** and D"``,
``"<think>…</think> The answer is C."``, ``"Answer: B\\nExplanation: …"``, or the text of an
option instead of its letter. ``extract_answer`` returns the sorted letter set (``"AC"``) and
how it was found, or ``""`` with status ``unparsed`` — an unparseable answer is scored wrong
and counted, never guessed.

Scoring: ``correct`` is the exact set; ``partial`` gives |P|/|G| when the prediction is a
non-empty subset of the gold set and 0 as soon as it holds a wrong letter (a wrong letter
costs the whole item, as in multiple-response exam scoring).
"""

from __future__ import annotations

import re

LETTERS = "ABCD"
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_MARKER = re.compile(
    r"(?:final\s+answer|correct\s+(?:answer|option|choice)s?|answers?|options?|choices?)"
    r"\s*(?:is|are|:|=|-)+\s*:?\s*(.*)", re.I)
# a run of letters: "A", "A,C", "A, C and D", "(A)(C)", "A/C", "AC", "**B**", "A & B"
_LIST = re.compile(r"^[\s*_`\"'(\[]*([A-D](?:[\s*_`\"')\]]*(?:,|;|/|&|\band\b|\bor\b|\+)?"
                   r"[\s*_`\"'(\[]*[A-D])*)(?![A-Za-z])", re.I)
_CORRECT = re.compile(r"(?:options?|choices?|answers?|letters?)\s+(.+?)\s+(?:is|are)\s+"
                      r"(?:the\s+)?(?:correct|right|true)", re.I)
_SOLO = re.compile(r"(?<![A-Za-z])[(\[*]*([A-D])[)\].:*]*(?![A-Za-z'’-])")


def _letters(s: str) -> str:
    return "".join(sorted({c for c in s.upper() if c in LETTERS}))


def _strip_reasoning(text: str) -> str:
    text = _THINK.sub(" ", text)
    if re.search(r"<think>", text, re.I):  # unclosed: the model never reached an answer
        return ""
    return re.sub(r"</think>", " ", text, flags=re.I).strip()


def _list_letters(found: str) -> str:
    """Letters of a matched list: single letters, or upper-case runs such as "AC"."""
    out = ""
    for tok in re.findall(r"[A-Za-z]+", found):
        if re.fullmatch(r"[A-D]+|[a-d]", tok):
            out += tok
    return _letters(out)


def _leading_list(s: str) -> str:
    m = _LIST.match(s)
    if not m:
        return ""
    found = m.group(1)
    # a leading "A" followed by a lower-case word is the article ("A cell is…")
    if re.match(r"^[\s*(\[]*A\s+[a-z]", s) and _list_letters(found) == "A":
        return ""
    return _list_letters(found)


_NEG_BEFORE = re.compile(r"\b(?:not|no|except|never|isn'?t|is\s+not|excluding)\s+(?:options?\s+|"
                         r"choices?\s+)?[(\[*]*([A-D])(?![A-Za-z])", re.I)
_NEG_AFTER = re.compile(r"(?<![A-Za-z])[(\[*]*([A-D])[)\]*]*\s+(?:is|are|was|seems?)\s+"
                        r"(?:wrong|incorrect|false|not\b|untrue|a\s+distractor)", re.I)


def _negated(body: str) -> set[str]:
    """Letters the reply rules out: "not A", "except B", "D is wrong"."""
    return {m.group(1).upper() for r in (_NEG_BEFORE, _NEG_AFTER) for m in r.finditer(body)}


def _option_hits(body: str, options: list[str]) -> list[int]:
    """Options whose whole text the reply quotes (word boundaries; an option found only
    inside the quoted text of a longer one does not count)."""
    low = body.lower()
    spans = []
    for i, o in enumerate(options):
        t = (o or "").lower().strip(" .")
        if len(t) < 4:
            continue
        for m in re.finditer(r"(?<![\w])" + re.escape(t) + r"(?![\w])", low):
            spans.append((m.start(), m.end(), i))
    return sorted({i for a, b, i in spans
                   if not any(a2 <= a and b <= b2 and (b2 - a2) > (b - a)
                              for a2, b2, _ in spans)})


def extract_answer(text: str | None, options: list[str] | None = None) -> tuple[str, str]:
    """(sorted letters, status): status is ``letters`` | ``marker`` | ``scan`` | ``option_text``
    | ``unparsed`` | ``empty``. Letters the reply rules out ("not A", "D is wrong") are never
    read as chosen; a reply that copies the option list (two or more options quoted whole)
    or one labelled option and nothing else ("A. <its text>", how a base model continues
    the prompt) is ``unparsed``."""
    if not text or not text.strip():
        return "", "empty"
    body = _strip_reasoning(text)
    if not body:
        return "", "unparsed"
    hits = _option_hits(body, options) if options else []
    if len(hits) >= 2 and not _MARKER.search(body):
        return "", "unparsed"  # the option list echoed back
    bare = re.fullmatch(r"\s*[(\[]?([A-D])[.):\]]\s*(.+?)\s*", body, re.S)
    if bare and LETTERS.index(bare.group(1)) < len(options or []) and \
            (options[LETTERS.index(bare.group(1))] or "").lower().strip(" .") == \
            bare.group(2).lower().strip(" ."):
        return "", "unparsed"  # one option copied with its label: a continuation
    neg = _negated(body)

    def keep(got: str) -> str:
        return _letters("".join(set(got) - neg))
    # 1. an explicit marker ("Answer: B", "the correct options are A and C"): the last one wins
    marks = list(_MARKER.finditer(body))
    for m in reversed(marks):
        got = keep(_leading_list(m.group(1)))
        if got:
            return got, "marker"
    m = _CORRECT.search(body)  # "Options A and C are correct"
    if m:
        got = keep(_leading_list(m.group(1)))
        if got:
            return got, "marker"
    # a reply that lists the options again ("A. …\nB. …") restates, it does not answer
    labels = re.findall(r"^\s*\(?([A-D])[.):]\s", body, re.M)
    if len(set(labels)) >= 2:
        return "", "unparsed"
    # 2. the answer leads the reply, as instructed ("A,C", "(B) because…")
    first = body.splitlines()[0] if body.splitlines() else body
    got = keep(_leading_list(first))
    if got:
        return got, "letters"
    # 3. the text of one option, quoted whole
    if hits:
        return _letters("".join(LETTERS[i] for i in hits)), "option_text"
    # 4. standalone capital letters in a short reply ("I think B.", "B and D are right")
    if len(body) <= 80:
        solo = [m.group(1) for m in _SOLO.finditer(body) if m.group(1) in LETTERS]
        solo = [c for c in solo if not re.search(rf"(?<![A-Za-z]){c}\s+[a-z]", body)
                or c != "A"]
        got = keep("".join(solo))
        if got:
            return got, "scan"
    return "", "unparsed"


def score(predicted: str, gold: str) -> tuple[bool, float]:
    """(exact-set correct, partial credit in [0, 1])."""
    p, g = set(_letters(predicted)), set(_letters(gold))
    if not g:
        raise ValueError("gold answer has no letters")
    if not p or p - g:
        return False, 0.0
    return p == g, len(p) / len(g)
