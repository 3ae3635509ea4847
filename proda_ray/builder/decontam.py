"""Decontamination: training rows that share text with the benchmark are dropped.

Three detectors, all against every benchmark item (dev and test; question, each option and
explanation): a shared word n-gram (13 by default, as in common LLM decontamination
practice); a whole short field (an option of ``min_words`` to n-1 words) contained in a row,
which n-grams cannot see; and MiniLM cosine similarity between a row's text and any item
field. A dropped row becomes a rejection naming the item it collided with.
"""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    w = _WORD.findall(text.lower())
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def item_texts(item: dict) -> list[str]:
    return [item["question"], *item["options"], item.get("explanation") or ""]


class Decontaminator:
    def __init__(self, items: list[dict], n: int = 13, threshold: float | None = 0.92,
                 embedder=None, min_words: int = 6):
        self.n, self.threshold = n, threshold
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[int, dict[tuple[str, ...], str]] = {}  # whole fields < n words
        texts, owners = [], []
        for it in items:
            for t in item_texts(it):
                for g in ngrams(t, n):
                    self.grams.setdefault(g, it["item_id"])
                w = tuple(_WORD.findall(t.lower()))
                if min_words <= len(w) < n:
                    self.short.setdefault(len(w), {}).setdefault(w, it["item_id"])
                if t.strip():
                    texts.append(t)
                    owners.append(it["item_id"])
        self.owners = owners
        self.embedder = embedder if threshold is not None else None
        self.matrix = (self.embedder.encode(texts) if self.embedder is not None and texts
                       else None)

    def check(self, rows: list[dict]) -> list[tuple[str, str, str] | None]:
        """Per row: None (clean) or (reason, item_id, detail)."""
        out: list[tuple[str, str, str] | None] = [None] * len(rows)
        texts = [f"{r['prompt']}\n{r['response']}" for r in rows]
        for i, t in enumerate(texts):
            for g in ngrams(t, self.n):
                if g in self.grams:
                    out[i] = ("ngram_overlap", self.grams[g],
                              f"shares the {self.n}-gram {' '.join(g)!r}")
                    break
            if out[i] is None:
                for length, fields in self.short.items():
                    hit = next((g for g in ngrams(t, length) if g in fields), None)
                    if hit:
                        out[i] = ("field_overlap", fields[hit],
                                  f"contains the benchmark text {' '.join(hit)!r}")
                        break
        if self.matrix is not None and len(rows):
            todo = [i for i in range(len(rows)) if out[i] is None]
            # each field of a row separately too: a copied option hides in a long prompt
            parts = [[texts[i], rows[i]["prompt"], rows[i]["response"]] for i in todo]
            flat = [p for ps in parts for p in ps]
            if flat:
                emb = self.embedder.encode(flat)
                sims = emb @ self.matrix.T
                best = sims.max(axis=1)
                arg = sims.argmax(axis=1)
                for k, i in enumerate(todo):
                    j = int(np.argmax(best[3 * k : 3 * k + 3])) + 3 * k
                    if best[j] >= self.threshold:
                        out[i] = ("embedding_near_benchmark", self.owners[int(arg[j])],
                                  f"MiniLM cosine {best[j]:.3f} ≥ {self.threshold}")
        return out


def for_benchmark(items: list[dict], cfg) -> Decontaminator:
    """A checker over benchmark items with a ``DecontamConfig`` (MiniLM only when the
    embedding threshold is set)."""
    from proda_ray.embeddings import MiniLMEmbedder

    return Decontaminator(items, cfg.ngram, cfg.embedding_threshold,
                          MiniLMEmbedder() if cfg.embedding_threshold is not None else None)


def sort_out(checker: Decontaminator, rows: list[dict]) -> tuple[list[dict], list]:
    """(clean rows, a ``Rejection`` per dropped row naming the item it collided with)."""
    from proda_ray.spec.records import Rejection

    kept, rejected = [], []
    for r, v in zip(rows, checker.check(rows) if rows else [], strict=True):
        if v is None:
            kept.append(r)
            continue
        reason, item_id, detail = v
        rejected.append(Rejection(None, "decontam", reason, detail=detail, id=r["sample_id"],
                                  duplicate_of=item_id, preview=r["prompt"][:200]))
    return kept, rejected
