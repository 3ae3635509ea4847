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
    """Nearest discipline description in MiniLM space. The model loads on first use."""

    def __init__(self, taxonomy: list[Discipline], min_score: float, embedder=None):
        from proda_ray.embeddings import MiniLMEmbedder

        self.taxonomy = taxonomy
        self.min_score = min_score
        self.embedder = embedder or MiniLMEmbedder()
        self._labels: np.ndarray | None = None

    def classify(self, texts: list[str]) -> list[tuple[Discipline | None, float]]:
        if not texts:
            return []
        if self._labels is None:
            self._labels = self.embedder.encode(
                [f"{d.name}: {d.description}" for d in self.taxonomy]
            )
        sims = self.embedder.encode(texts) @ self._labels.T
        out = []
        for row in sims:
            best = int(np.argmax(row))
            score = float(row[best])
            out.append((self.taxonomy[best] if score >= self.min_score else None, score))
        return out
