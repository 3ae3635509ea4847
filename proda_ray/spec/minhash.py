"""MinHash signatures of word shingles, vectorized with numpy.

Shingles are word n-grams of the lower-cased text hashed to 32 bits with CRC-32 (fast,
deterministic across processes, unlike Python's salted ``hash``). Permutations are
``(a·x + b) mod (2^61 − 1)`` truncated to 32 bits; with x, a, b < 2^32 the products fit
in uint64, so numpy never overflows.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)
_WORD = re.compile(r"\w+")


def shingle_hashes(text: str, n: int) -> np.ndarray:
    words = _WORD.findall(text.lower())
    if not words:
        return np.zeros(0, dtype=np.uint64)
    if len(words) < n:
        grams = [" ".join(words)]
    else:
        grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return np.unique(np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64,
                                 count=len(grams)))


class MinHasher:
    def __init__(self, num_perm: int, seed: int = 1, shingle_words: int = 5):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
        self.num_perm = num_perm
        self.shingle_words = shingle_words

    def signature(self, text: str) -> np.ndarray:
        """uint32 signature of length ``num_perm`` (all-max for a text without words)."""
        hashes = shingle_hashes(text, self.shingle_words)
        sig = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint64)
        for i in range(0, len(hashes), 4096):  # bounded memory for huge documents
            block = hashes[i : i + 4096, None]
            phv = ((block * self.a + self.b) % _MERSENNE) & _MAX32
            np.minimum(sig, phv.min(axis=0), out=sig)
        return sig.astype(np.uint32)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))
