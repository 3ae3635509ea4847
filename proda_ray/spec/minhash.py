"""MinHash signatures of word shingles, every step vectorized with numpy.

A text's words are the runs of word characters (what Python's ``\\w`` matches) of its
lower-cased text. Nothing is done per word in Python:

1. the text becomes an array of code points (UTF-32), and a lookup table marks word
   characters;
2. each word is hashed by a polynomial over its code points, computed for all words at once
   from one prefix sum (arithmetic modulo 2^64, which numpy's uint64 wraps for free);
3. a shingle (``shingle_words`` consecutive words) hashes as a weighted sum of its words'
   hashes, finished with the splitmix64 mixer;
4. permutation ``i`` is the multiply-shift hash ``(a_i·x + b_i) mod 2^64 >> 32``, and the
   signature is the minimum over the shingles.

The hashes depend on the text and the seed only, so they are the same in every process.
A Python loop over words with a library MinHash (datasketch, rensa) hashes strings one call
per shingle; on the OpenStax corpus that was 3-4 times slower than these array passes.
"""

from __future__ import annotations

import numpy as np

from proda_ray.spec.charclass import WORD, codepoints, table

_P = np.uint64(0x100000001B3)  # the FNV-64 prime: odd, so invertible modulo 2^64
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))
_SHIFT32 = np.uint64(32)
_BLOCK = 4096  # shingles per permutation block: bounded memory for huge documents


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit reaches every output bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def word_hashes(text: str) -> np.ndarray:
    """One uint64 per word of the lower-cased ``text``, in order."""
    cps = codepoints(text.lower())
    if not len(cps):
        return np.zeros(0, dtype=np.uint64)
    word = table(WORD)[cps]
    edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    if not len(starts):
        return np.zeros(0, dtype=np.uint64)
    ends = np.flatnonzero(edges == -1)
    with np.errstate(over="ignore"):
        powers = np.empty(len(cps) + 1, dtype=np.uint64)
        powers[0] = 1
        powers[1:] = _P
        powers = np.cumprod(powers)  # P^k, wrapping
        inverse = np.empty(len(cps) + 1, dtype=np.uint64)
        inverse[0] = 1
        inverse[1:] = _P_INV
        inverse = np.cumprod(inverse)  # P^-k
        prefix = np.zeros(len(cps) + 1, dtype=np.uint64)
        np.cumsum((cps.astype(np.uint64) + np.uint64(1)) * powers[:-1], out=prefix[1:])
        # sum of c·P^(k - start) over the word; its length too, so "ab" and "ab\0" differ
        h = (prefix[ends] - prefix[starts]) * inverse[starts]
        return _mix(h ^ (ends - starts).astype(np.uint64))


def shingle_hashes(text: str, n: int) -> np.ndarray:
    """One uint64 per n-word shingle (a text of fewer words is one shingle)."""
    w = word_hashes(text)
    if not len(w):
        return w
    k = min(n, len(w))
    weights = _mix(np.arange(1, k + 1, dtype=np.uint64)) | np.uint64(1)
    with np.errstate(over="ignore"):
        g = np.zeros(len(w) - k + 1, dtype=np.uint64)
        for j in range(k):
            g += w[j : len(w) - k + 1 + j] * weights[j]
        return _mix(g)


class MinHasher:
    def __init__(self, num_perm: int, seed: int = 1, shingle_words: int = 5):
        rng = np.random.default_rng(seed)
        self.a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * np.uint64(2) \
            + np.uint64(1)  # odd multipliers
        self.b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
        self.num_perm = num_perm
        self.shingle_words = shingle_words

    def signature(self, text: str) -> np.ndarray:
        """uint32 signature of length ``num_perm`` (all-max for a text without words)."""
        hashes = shingle_hashes(text, self.shingle_words)
        sig = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for i in range(0, len(hashes), _BLOCK):
                block = hashes[i : i + _BLOCK, None]
                phv = (block * self.a + self.b) >> _SHIFT32
                np.minimum(sig, phv.min(axis=0), out=sig)
        return sig.astype(np.uint32)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))
