"""Training on an object-store workspace (a real S3 API served by moto): `proda train` is
killed with SIGKILL once a checkpoint is on S3, rerun, resumes from that checkpoint, and
exports the model to S3; TensorBoard events are written on the way."""

from __future__ import annotations

import contextlib
import os
import posixpath
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from proda_ray.compile.config import load_preset
from proda_ray.compile.stage import latest_complete_checkpoint
from proda_ray.workspace import Workspace
from proda_ray.workspace.storage import localize
from tests.compile.test_train import generate

pytestmark = pytest.mark.slow


def test_train_on_s3_killed_and_resumed(loop_ws, s3_endpoint, tmp_path):
    local, _, _ = loop_ws
    uri = "s3://proda-test/train-ws"
    ws = Workspace(uri)
    pafs.copy_files(local.uri, ws.path(), destination_filesystem=ws.fs)
    proda = str(Path(sys.executable).with_name("proda"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PRODA_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [proda, "train", "-w", uri, "--preset", "cpu-tiny", "--set", "train.max_steps=40",
           "--set", "train.checkpoint_every=5", "--set", "train.val_every=20",
           "--set", "train.tensorboard=true", "-q"]
    cfg = load_preset("cpu-tiny")

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
    found, deadline = None, time.time() + 400
    while time.time() < deadline and first.poll() is None and not found:
        runs = [i.path for i in ws.fs.get_file_info(pafs.FileSelector(
            ws.path("stages", "train", "runs"), allow_not_found=True))]
        for run in runs:
            fp = posixpath.basename(run.rstrip("/"))  # Ray Train's run is train-<fingerprint>
            found = found or latest_complete_checkpoint(ws, posixpath.join(run, "ray"),
                                                        f"train-{fp}", cfg)
        time.sleep(0.3)
    with contextlib.suppress(ProcessLookupError):  # the driver, its Ray and the workers
        os.killpg(first.pid, signal.SIGKILL)
    out = first.communicate()[0]
    assert found, out[-3000:]
    assert not ws.exists("stages", "train", "manifest.json"), "finished before the kill"

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    man = ws.read_json("stages/train/manifest.json")
    assert man["report"]["resumed_from"], "the rerun started from scratch"
    assert man["counters"]["steps"] == 40
    model = man["report"]["model"]
    assert model.startswith("s3://proda-test/train-ws/models/")
    assert isinstance(generate(localize(model, tmp_path / "dl")), str)
    events = list((tmp_path / "cache" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard events"
