"""Decontamination: training rows that share item-specific text with the benchmark are
dropped.

Contamination, for a benchmark built from a corpus: training data should teach the corpus,
and items and facts both quote its sentences (a definition_match option *is* a concept's
definition; a patch that teaches the concept states it). What must not reach training is
what is specific to an item: its question framing, written distractors (a perturbed claim),
its explanation, its (question, answer) pairing. So with ``corpus`` (the knowledge core's
node texts: the sentences items may quote), a span of an item's text that the corpus
contains (``mask`` or more words in a row) is masked first, and a whole field the corpus
contains is no evidence at all; without it, every item text counts (``scope: all``).

Three detectors, against every benchmark item (every split; question, each option and
explanation): a shared word n-gram (13 by default, as in common LLM decontamination
practice) with at least one unmasked word; a whole short field (``min_words`` to n-1 words)
contained in a row, which n-grams cannot see; and MiniLM cosine similarity between a row's
text and an item field's unmasked words. A dropped row becomes a rejection naming the item
it collided with.
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


def _corpus_spans(fields: list[tuple[str, ...]], corpus, mask: int
                  ) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(the ``mask``-grams of ``fields`` the corpus contains, the whole fields shorter than
    ``mask`` it contains): one pass over the corpus, holding only the items' own spans."""
    want = {f[i:i + mask] for f in fields for i in range(len(f) - mask + 1)}
    short = {f for f in fields if 0 < len(f) < mask}
    lengths = sorted({len(f) for f in short})
    found, found_short = set(), set()
    for text in corpus:
        w = tuple(_WORD.findall((text or "").lower()))
        found.update(g for g in (w[i:i + mask] for i in range(len(w) - mask + 1)) if g in want)
        for n in lengths:
            found_short.update(g for g in (w[i:i + n] for i in range(len(w) - n + 1))
                               if g in short)
    return found, found_short


def _quoted(w: tuple[str, ...], spans: set, short: set, mask: int) -> list[bool]:
    """Per word of a field: inside a span the corpus contains."""
    if w in short:
        return [True] * len(w)
    out = [False] * len(w)
    for i in range(len(w) - mask + 1):
        if w[i:i + mask] in spans:
            out[i:i + mask] = [True] * mask
    return out


class Decontaminator:
    def __init__(self, items: list[dict], n: int = 13, threshold: float | None = 0.92,
                 embedder=None, min_words: int = 6, corpus=None, mask: int = 8):
        self.n, self.threshold = n, threshold
        self.grams: dict[tuple[str, ...], str] = {}
        self.short: dict[int, dict[tuple[str, ...], str]] = {}  # whole fields < n words
        self.masked_fields = 0  # fields wholly the corpus' text: no evidence of leakage
        fields = [(it["item_id"], t, tuple(_WORD.findall(t.lower())))
                  for it in items for t in item_texts(it)]
        spans, whole = (_corpus_spans([f for _, _, f in fields], corpus, mask)
                        if corpus is not None else (set(), set()))
        texts, owners = [], []
        for owner, t, w in fields:
            q = _quoted(w, spans, whole, mask) if corpus is not None else [False] * len(w)
            if w and all(q):
                self.masked_fields += 1
                continue
            for i in range(len(w) - n + 1):
                if not all(q[i:i + n]):  # at least one word the item itself wrote
                    self.grams.setdefault(w[i:i + n], owner)
            if min_words <= len(w) < n:
                self.short.setdefault(len(w), {}).setdefault(w, owner)
            own = " ".join(x for x, c in zip(w, q, strict=True) if not c)
            if own.strip() and (corpus is None or len(own.split()) >= 4):
                texts.append(t if corpus is None else own)
                owners.append(owner)
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


def for_benchmark(items: list[dict], cfg, corpus=None) -> Decontaminator:
    """A checker over benchmark items with a ``DecontamConfig`` (MiniLM only when the
    embedding threshold is set); ``corpus``: the texts items may quote (``scope:
    item_specific``; ignored with ``scope: all``)."""
    from proda_ray.embeddings import MiniLMEmbedder

    return Decontaminator(items, cfg.ngram, cfg.embedding_threshold,
                          MiniLMEmbedder() if cfg.embedding_threshold is not None else None,
                          corpus=corpus if cfg.scope == "item_specific" else None,
                          mask=cfg.mask_words)


KNOWLEDGE_TEXT = {"statements": ["source_quote"], "concepts": ["term", "definition"],
                  "chains": ["steps"]}


def knowledge_texts(ws, paths: dict[str, str | None]):
    """The knowledge core's node texts (statement quotes, concept definitions, chain
    steps), streamed: the corpus sentences benchmark items and training rows both quote."""
    for table, cols in KNOWLEDGE_TEXT.items():
        if not paths.get(table):
            continue
        for batch in ws.iter_parquet_batches(paths[table], columns=cols, batch_size=4096):
            for row in batch.to_pylist():
                for c in cols:
                    v = row.get(c)
                    if isinstance(v, list):
                        yield from (x for x in v if x)
                    elif v:
                        yield v


def sort_out(checker: Decontaminator, rows: list[dict]) -> tuple[list[dict], list]:
    """(clean rows, a ``Rejection`` per dropped row naming the item it collided with)."""
    from proda_ray.workspace.rejections import Rejection

    kept, rejected = [], []
    for r, v in zip(rows, checker.check(rows) if rows else [], strict=True):
        if v is None:
            kept.append(r)
            continue
        reason, item_id, detail = v
        rejected.append(Rejection(None, "decontam", reason, detail=detail, id=r["sample_id"],
                                  duplicate_of=item_id, preview=r["prompt"][:200]))
    return kept, rejected
