"""The same training loop under DeepSpeed's own launcher (no Ray): what GPU validation runs.
Two CPU processes (gloo), ZeRO-3; a second launch with more steps resumes from the first
launch's last checkpoint instead of starting over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proda_ray.engines.models import tiny_causal_lm

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def launch(base: Path, out: Path, steps: int) -> subprocess.CompletedProcess:
    ds = str(Path(sys.executable).with_name("deepspeed"))
    cmd = [ds, "--num_gpus", "2", str(REPO / "jobs" / "train_ds.py"), "--synthetic", "32",
           "--model-dir", str(base), "--preset", "cpu-tiny", "--set", "strategy=zero3",
           "--set", f"max_steps={steps}", "--set", "checkpoint_every=2", "--out", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)


def test_deepspeed_launcher_trains_and_resumes(tmp_path):
    base = tiny_causal_lm(tmp_path / "base", ["the water cycle moves water"] * 20)
    first = launch(base, tmp_path / "run", 4)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    second = launch(base, tmp_path / "run", 6)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    lines = [json.loads(x) for x in metrics]
    assert [m["step"] for m in lines] == [1, 2, 3, 4, 5, 6]  # 5-6 only in the second launch
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["strategy"] == "zero3" and summary["world"] == 2 and summary["steps"] == 6
    assert (tmp_path / "run" / "model" / "config.json").exists()
