"""Discipline tagging: from metadata when present, otherwise by embedding similarity.

The classifier compares a document's title and leading text with each discipline's name and
description using the bundled MiniLM model (offline), and takes the most similar discipline
when its cosine similarity reaches ``min_score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import yaml


@dataclass(frozen=True)
class Discipline:
    code: str
    name: str
    description: str = ""


def load_taxonomy(path: str | None = None) -> list[Discipline]:
    raw = (
        Path(path).read_text() if path
        else resources.files("proda_ray.resources").joinpath("taxonomy.yaml").read_text()
    )
    items = yaml.safe_load(raw)
    if not isinstance(items, list) or not items:
        raise ValueError(f"taxonomy {path or 'built-in'}: expected a non-empty list")
    out = [Discipline(str(d["code"]), str(d["name"]), str(d.get("description", ""))) for d in items]
    if len({d.code for d in out}) != len(out):
        raise ValueError("taxonomy codes must be unique")
    return out


def match_metadata(value: str | None, taxonomy: list[Discipline]) -> Discipline | None:
    """Map a metadata value (a code like "1"/"001" or a name like "physics") onto the taxonomy."""
    if value is None:
        return None
    v = str(value).strip()
    for d in taxonomy:
        if v == d.code or (v.isdigit() and d.code.isdigit() and int(v) == int(d.code)):
            return d
        if v.lower() == d.name.lower():
            return d
    return None


class DisciplineClassifier:
    """Nearest discipline in MiniLM space. The model loads on first use.

    A document is the normalized mean of the embeddings of its title and first paragraphs
    (one long text would be cut at the model's 128-256 tokens); a discipline is the mean of
    its name and of each phrase of its description. On 195 OpenStax documents over 9
    disciplines (metadata as truth) this scores 0.77-0.83 accuracy, against 0.61 for one
    embedding of the leading 2,000 characters against one label sentence.
    """

    def __init__(self, taxonomy: list[Discipline], min_score: float, paragraphs: int = 8,
                 embedder=None):
        from proda_ray.embeddings import MiniLMEmbedder

        self.taxonomy = taxonomy
        self.min_score = min_score
        self.paragraphs = paragraphs
        self.embedder = embedder or MiniLMEmbedder(max_length=128)
        self._labels: np.ndarray | None = None

    def _label_vectors(self) -> np.ndarray:
        vecs = []
        for d in self.taxonomy:
            phrases = [p.strip() for p in d.description.split(",") if p.strip()]
            v = self.embedder.encode([d.name, *(f"{d.name}: {p}" for p in phrases)]).mean(0)
            vecs.append(v / np.linalg.norm(v))
        return np.stack(vecs)

    def _doc_pieces(self, title: str, text: str) -> list[str]:
        paras = [p for p in text.split("\n\n") if len(p.split()) >= 8][: self.paragraphs]
        return [title, *paras] if paras else [title, text[:1000]]

    def classify(self, docs: list[tuple[str, str]]) -> list[tuple[Discipline | None, float]]:
        """(discipline or None, cosine score) for each (title, text)."""
        if not docs:
            return []
        if self._labels is None:
            self._labels = self._label_vectors()
        pieces = [self._doc_pieces(t or "", x) for t, x in docs]
        flat = self.embedder.encode([p for ps in pieces for p in ps])
        out, pos = [], 0
        for ps in pieces:
            v = flat[pos : pos + len(ps)].mean(0)
            pos += len(ps)
            row = self._labels @ (v / (np.linalg.norm(v) or 1.0))
            best = int(np.argmax(row))
            score = float(row[best])
            out.append((self.taxonomy[best] if score >= self.min_score else None, score))
        return out
