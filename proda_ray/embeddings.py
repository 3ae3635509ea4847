"""Sentence embeddings with the bundled, offline all-MiniLM-L6-v2 (no hub access).

Mean pooling over the last hidden state, L2-normalized: the same recipe the model was trained
with, so cosine similarity is a dot product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MiniLMEmbedder:
    """Loads lazily; construct it freely in actors, pay for the model on first use."""

    def __init__(self, batch_size: int = 32, max_length: int = 256, num_threads: int | None = None):
        self.batch_size = batch_size
        self.max_length = max_length
        self.num_threads = num_threads
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from proda_ray.tokenizer import minilm_dir

        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        path = str(minilm_dir())
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors."""
        import torch

        if self._model is None:
            self._load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)
