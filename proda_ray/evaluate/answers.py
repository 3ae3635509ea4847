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


def extract_answer(text: str | None, options: list[str] | None = None) -> tuple[str, str]:
    """(sorted letters, status): status is ``letters`` | ``marker`` | ``scan`` | ``option_text``
    | ``unparsed`` | ``empty``."""
    if not text or not text.strip():
        return "", "empty"
    body = _strip_reasoning(text)
    if not body:
        return "", "unparsed"
    # 1. an explicit marker ("Answer: B", "the correct options are A and C"): the last one wins
    marks = list(_MARKER.finditer(body))
    for m in reversed(marks):
        got = _leading_list(m.group(1))
        if got:
            return got, "marker"
    m = _CORRECT.search(body)  # "Options A and C are correct"
    if m:
        got = _leading_list(m.group(1))
        if got:
            return got, "marker"
    # a reply that lists the options again ("A. …\nB. …") restates, it does not answer
    labels = re.findall(r"^\s*\(?([A-D])[.):]\s", body, re.M)
    if len(set(labels)) >= 2:
        return "", "unparsed"
    # 2. the answer leads the reply, as instructed ("A,C", "(B) because…")
    first = body.splitlines()[0] if body.splitlines() else body
    got = _leading_list(first)
    if got:
        return got, "letters"
    # 3. the text of options, quoted whole
    if options:
        low = body.lower()
        hits = [LETTERS[i] for i, o in enumerate(options)
                if o and len(o) >= 4 and o.lower().strip(" .") in low]
        if hits:
            return "".join(sorted(hits)), "option_text"
    # 4. standalone capital letters in a short reply ("I think B.", "B and D are right")
    if len(body) <= 80:
        solo = [m.group(1) for m in _SOLO.finditer(body) if m.group(1) in LETTERS]
        solo = [c for c in solo if not re.search(rf"(?<![A-Za-z]){c}\s+[a-z]", body)
                or c != "A"]
        if solo:
            return _letters("".join(solo)), "scan"
    return "", "unparsed"


def score(predicted: str, gold: str) -> tuple[bool, float]:
    """(exact-set correct, partial credit in [0, 1])."""
    p, g = set(_letters(predicted)), set(_letters(gold))
    if not g:
        raise ValueError("gold answer has no letters")
    if not p or p - g:
        return False, 0.0
    return p == g, len(p) / len(g)
