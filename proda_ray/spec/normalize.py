"""Text normalization: Unicode form, newlines, control characters, whitespace, boilerplate.

The output is the document text every offset downstream refers to (chunks, quotes), so it is
produced exactly once, here, and stored in the ``documents`` table.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from proda_ray.spec.config import NormalizeConfig

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_FORMFEED = re.compile(r"[\f\v]")
# C0/C1 controls except \t \n; zero-width and soft-hyphen characters; BOMs inside text
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANKS = re.compile(r"\n{3,}")


@lru_cache(maxsize=16)
def _patterns(patterns: tuple[str, ...]) -> list[re.Pattern]:
    return [re.compile(p) for p in patterns]


def normalize_text(text: str, cfg: NormalizeConfig, *, paged: bool = False) -> str:
    """Normalized text: NFC, ``\\n`` newlines, no control/invisible chars, single spaces,
    at most one blank line in a row, boilerplate removed, and, for paged formats (PDF), running
    headers/footers removed (elsewhere a repeated short line is usually a real heading such as
    "Solution")."""
    text = unicodedata.normalize(cfg.unicode_form, text)
    text = _NEWLINES.sub("\n", text)
    text = _FORMFEED.sub("\n\n", text)
    text = _INVISIBLE.sub("", text)
    lines = []
    for line in text.split("\n"):
        stripped = line.rstrip()
        indent = len(stripped) - len(stripped.lstrip(" \t"))
        # keep leading indentation (code, nested lists), collapse runs of spaces inside
        lines.append(stripped[:indent].replace("\t", "    ") + _SPACES.sub(" ", stripped[indent:]))
    boiler = _patterns(tuple(cfg.boilerplate_patterns))
    lines = [ln for ln in lines if not (ln.strip() and any(p.search(ln) for p in boiler))]
    if paged and cfg.max_line_repeats > 0:
        counts = Counter(ln.strip() for ln in lines if 0 < len(ln.strip()) < 80)
        running = {ln for ln, c in counts.items() if c > cfg.max_line_repeats and
                   not _is_structural(ln)}
        lines = [ln for ln in lines if ln.strip() not in running]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _is_structural(line: str) -> bool:
    """Repeated lines that carry structure, not chrome (table rules, code, list markers)."""
    return bool(re.fullmatch(r"[\s|:\-=+*_#`~.]+|[-*+] .*|\d+[.)] .*|```.*", line))
