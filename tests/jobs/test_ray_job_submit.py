"""A real 2-node Ray cluster on loopback; the spec job submitted with `ray job submit`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_CORPUS

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
PORT, DASHBOARD = 6391, 8291


def _ray(*args: str, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture
def two_node_cluster(tmp_path):
    # a short temp dir: Ray's unix socket paths must stay under ~108 characters
    tmp = Path(f"/tmp/proda-ray-{os.getpid()}")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": str(tmp),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    head = _ray("start", "--head", f"--port={PORT}", "--num-cpus=1", "--include-dashboard=true",
                f"--dashboard-port={DASHBOARD}", "--dashboard-host=127.0.0.1",
                f"--temp-dir={tmp}", "--disable-usage-stats", env=env)
    assert head.returncode == 0, head.stderr[-3000:]
    # the second node gets its own temp dir, as a real node has its own disk: sharing one,
    # its runtime-env agent garbage-collects the job's unpacked working_dir under the head
    worker_tmp = Path(f"{tmp}-w")
    try:
        worker = _ray("start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1",
                      f"--temp-dir={worker_tmp}", env=env)
        assert worker.returncode == 0, worker.stderr[-3000:]
        yield env
    finally:
        _ray("stop", "--force", env=env)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(worker_tmp, ignore_errors=True)


def test_spec_job_on_two_nodes(two_node_cluster, tmp_path):
    env = two_node_cluster
    ws = tmp_path / "ws"
    # the cluster must really have two nodes before the job starts
    probe = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{PORT}'); "
         "print(len([n for n in ray.nodes() if n['Alive']]))"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert probe.stdout.strip().splitlines()[-1] == "2", probe.stderr[-2000:]

    submit = _ray(
        "job", "submit", f"--address=http://127.0.0.1:{DASHBOARD}", f"--working-dir={REPO}",
        "--", sys.executable, "jobs/spec.py", "--workspace", str(ws),
        "--corpus", str(SAMPLE_CORPUS), "--workers", "2",
        env=env, timeout=900)
    if submit.returncode != 0:  # the whole job log: a traceback's cause is at its end
        pytest.fail(f"job failed:\n{submit.stdout[-12000:]}\n--- stderr ---\n"
                    f"{submit.stderr[-4000:]}", pytrace=False)
    assert "succeeded" in submit.stdout.lower()

    manifest = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    assert manifest["counters"]["documents"] == 8
    assert manifest["cluster"]["nodes"] == 2
    assert sum(manifest["rejected"]["documents.rejected"].values()) == 12
    chunks = manifest["outputs"]["chunks"]
    assert chunks["rows"] >= 8 and (ws / chunks["path"]).is_dir()
    t0 = time.time()
    again = _ray("job", "submit", f"--address=http://127.0.0.1:{DASHBOARD}",
                 f"--working-dir={REPO}", "--", sys.executable, "jobs/spec.py",
                 "--workspace", str(ws), "--corpus", str(SAMPLE_CORPUS), env=env, timeout=600)
    assert again.returncode == 0 and '"status": "up-to-date"' in again.stdout, again.stdout[-2000:]
    assert time.time() - t0 < 120
