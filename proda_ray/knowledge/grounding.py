"""Grounding: every L2 statement's ``source_quote`` must be found in its chunk.

The miner quotes the chunk's own sentences (``text.sentences``), and an abstractive engine's
quotes are constrained to them (a JSON-schema ``enum``). ``locate_quote`` checks every quote
anyway, since unconstrained engines (hosted APIs) can paraphrase: first exactly, then
with whitespace, case, quotes and dashes normalized, mapping the match back to offsets in the
original chunk text. A quote found neither way rejects its statement (``ungrounded_quote``).
"""

from __future__ import annotations

_TRANS = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "−": "-"})


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
