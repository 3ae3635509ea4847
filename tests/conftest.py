"""Shared fixtures: one real local Ray per test session (starting Ray costs 2-4 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "examples" / "sample_corpus"
OPENSTAX = REPO.parent / "shared" / "corpora" / "openstax"


@pytest.fixture(scope="session")
def ray_local():
    """A real single-node Ray with 2 CPUs, shared by the whole session."""
    import ray

    from proda_ray.runtime import ensure_ray

    ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture
def openstax() -> Path:
    if not OPENSTAX.exists():
        pytest.skip(f"OpenStax corpus not found at {OPENSTAX}")
    return OPENSTAX


def openstax_texts(limit: int | None = None, book: str = "001_physics") -> list[str]:
    """Document texts from one OpenStax book (for property tests on real text)."""
    import gzip
    import json

    path = OPENSTAX / f"{book}.jsonl.gz"
    if not path.exists():
        return []
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if limit and len(out) >= limit:
                break
    return out
