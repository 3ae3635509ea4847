"""The vllm engine must never wait for a GPU that is not there: it refuses at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proda_ray.engines.base import VLLMEngineConfig
from proda_ray.engines.vllm import NoGPUError, check_vllm_cluster
from tests.conftest import SAMPLE_CORPUS


def test_refuses_without_gpus(ray_local):
    with pytest.raises(NoGPUError, match="needs 1 GPU"):
        check_vllm_cluster(VLLMEngineConfig(model="any"))
    with pytest.raises(NoGPUError, match="needs 2 GPU"):
        check_vllm_cluster(VLLMEngineConfig(model="any", tensor_parallel_size=2))


def test_extract_with_vllm_fails_fast_via_cli(tmp_path):
    proda = str(Path(sys.executable).with_name("proda"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    ws = str(tmp_path / "ws")
    assert subprocess.run([proda, "spec", "-w", ws, "-c", str(SAMPLE_CORPUS), "-q"], env=env,
                          capture_output=True, timeout=300).returncode == 0
    t0 = time.time()
    out = subprocess.run([proda, "extract", "-w", ws, "--engine", "vllm", "--model", "m", "-q"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "GPU" in out.stderr
    assert time.time() - t0 < 60
