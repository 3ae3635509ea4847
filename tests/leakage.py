"""An independent leakage detector for the loop's training tables.

It shares no code with proda's decontamination filter (``proda_ray.builder.decontam``): its
own tokenizer, its own n-grams, its own similarity. What it calls a leak follows the
definition of contamination for a benchmark built from a corpus: training data may teach
the corpus (items and facts both quote its sentences), but must not contain what is
specific to an item —

* ``question``: an item's question, verbatim (normalised);
* ``option_set``: three or more of an item's options (of three or more words: terms of one
  field legitimately appear together) in one training row;
* ``item_ngram``: an 8-gram of an item's question, options or explanation that the corpus
  does not contain (template framing, a written distractor, the explanation's wording);
* ``paraphrase``: a sentence of a row close to the item-specific part of an item's question
  (its words outside corpus 8-grams; character-trigram cosine ≥ 0.8) in a row that also
  holds the item's key.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter

_TOKEN = re.compile(r"[^\W_]+")
_SENT = re.compile(r"(?<=[.?!])\s+|\n+")
N = 8


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text or "").casefold())


def grams(toks: list[str], n: int = N) -> set[tuple[str, ...]]:
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def _trigrams(toks: list[str]) -> Counter:
    t = " ".join(toks)
    return Counter(t[i:i + 3] for i in range(len(t) - 2))


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _contains(hay: list[str], needle: list[str]) -> bool:
    """``needle`` occurs in ``hay`` as a run of whole tokens."""
    if not needle or len(needle) > len(hay):
        return False
    return f" {' '.join(needle)} " in f" {' '.join(hay)} "


def find_leaks(items: list[dict], rows: list[dict], corpus: list[str]) -> list[dict]:
    """Every (row, item, kind) leak: ``items`` with question/options/answer/explanation,
    ``rows`` with id/prompt/response, ``corpus``: the texts items may quote."""
    corpus_grams: set = set()
    for t in corpus:
        corpus_grams |= grams(tokens(t))
    specific: dict[tuple, str] = {}
    for it in items:
        for text in (it["question"], it.get("explanation") or "", *it["options"]):
            for g in grams(tokens(text)) - corpus_grams:
                specific.setdefault(g, it["item_id"])
    prepared = []
    for it in items:
        opts = [tokens(o) for o in it["options"]]
        key = [opts[ord(c) - 65] for c in it["answer"] if 0 <= ord(c) - 65 < len(opts)]
        q = tokens(it["question"])
        quoted = [False] * len(q)  # positions inside a run the corpus contains
        for i in range(len(q) - N + 1):
            if tuple(q[i:i + N]) in corpus_grams:
                quoted[i:i + N] = [True] * N
        own = [t for t, c in zip(q, quoted, strict=True) if not c]
        prepared.append((it, q, [o for o in opts if len(o) >= 3], key, _trigrams(own)))
    leaks = []
    for r in rows:
        text = f"{r['prompt']}\n{r['response']}"
        toks = tokens(text)
        hit = next((specific[g] for g in grams(toks) if g in specific), None)
        if hit:
            leaks.append({"row": r["id"], "item": hit, "kind": "item_ngram"})
        sents = [_trigrams(tokens(s)) for s in _SENT.split(text) if len(tokens(s)) >= 4]
        for it, q, opts, key, qgrams in prepared:
            if len(q) >= 5 and _contains(toks, q):
                leaks.append({"row": r["id"], "item": it["item_id"], "kind": "question"})
            if sum(_contains(toks, o) for o in opts) >= 3:
                leaks.append({"row": r["id"], "item": it["item_id"], "kind": "option_set"})
            if key and all(_contains(toks, k) for k in key) and any(
                    _cosine(qgrams, s) >= 0.8 for s in sents):
                leaks.append({"row": r["id"], "item": it["item_id"], "kind": "paraphrase"})
    return leaks
