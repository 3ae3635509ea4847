"""Character classes as lookup tables over code points, for whole-array text passes.

``codepoints(text)`` is the text as a uint32 array, one entry per character (UTF-32), so
array positions are string offsets. Each table is built once per process by running the
regular expression it stands for over every code point, so ``table[codepoints(s)]`` agrees
with that expression on every character by construction.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_ALL = 0x110000


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def _every_character() -> str:
    """All code points in order, lone surrogates included: position i is chr(i)."""
    return np.arange(_ALL, dtype=np.uint32).tobytes().decode("utf-32-le",
                                                             errors="surrogatepass")


@lru_cache(maxsize=8)
def table(pattern: str) -> np.ndarray:
    """True at every code point that the one-character ``pattern`` matches."""
    hits = np.zeros(_ALL, dtype=bool)
    hits[[m.start() for m in re.finditer(pattern, _every_character())]] = True
    return hits


WORD = r"\w"  # what Python's re calls a word character
LETTER = r"[^\W\d_]"  # a word character that is neither a digit nor "_"
SPACE = r"\s"


@lru_cache(maxsize=1)
def is_alpha() -> np.ndarray:
    """``str.isalpha`` for every code point (built from the method itself: it differs from
    LETTER on about a thousand marks and signs)."""
    return np.fromiter(map(str.isalpha, _every_character()), dtype=bool, count=_ALL)
