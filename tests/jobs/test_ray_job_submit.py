"""A real 2-node Ray cluster on loopback: the spec job submitted with `ray job submit`, the
Studio's Ray jobs, and the spec dedup run across both nodes.

The cluster lives in its own PID namespace (``unshare --pid``): its ``ray stop --force`` can
only reach its own processes, never the test session's shared local Ray (whose driver Ray
would terminate along with it). It also gets its own ports, since the network is shared.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE_CORPUS

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cluster_script(out: Path, ws: Path, tmp: str) -> str:
    p, dash, a1, a2, m1, r1, cl, b1, b2, m2, r2 = free_ports(11)
    submit = (f"{RAY} job submit --address=http://127.0.0.1:{dash} --working-dir={REPO} -- "
              f"{sys.executable} jobs/spec.py --workspace {ws} --corpus {SAMPLE_CORPUS}")
    probe = (f"import ray; ray.init(address='127.0.0.1:{p}'); "
             "print(len([n for n in ray.nodes() if n['Alive']]))")
    return f"""
set -u
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
# proda is installed on the nodes, as on a real cluster (the Studio's Ray jobs run `proda`)
export PATH={Path(sys.executable).parent}:$PATH
unset RAY_ADDRESS
{RAY} start --head --port={p} --num-cpus=1 --include-dashboard=true --dashboard-port={dash} \\
  --dashboard-host=127.0.0.1 --dashboard-agent-listen-port={a1} --dashboard-agent-grpc-port={a2} \\
  --metrics-export-port={m1} --runtime-env-agent-port={r1} --ray-client-server-port={cl} \\
  --temp-dir={tmp} --disable-usage-stats > {out}/head.log 2>&1 || exit 11
# the second node gets its own temp dir, as a real node has its own disk: sharing one, its
# runtime-env agent garbage-collects the job's unpacked working_dir under the head
{RAY} start --address=127.0.0.1:{p} --num-cpus=1 --dashboard-agent-listen-port={b1} \\
  --dashboard-agent-grpc-port={b2} --metrics-export-port={m2} --runtime-env-agent-port={r2} \\
  --temp-dir={tmp}-w > {out}/worker.log 2>&1 || exit 12
{sys.executable} -c {shlex.quote(probe)} > {out}/nodes.txt 2>&1
submit() {{  # the job agent can need a few seconds after start: retry while it says so
  for i in $(seq 30); do
    {submit} "$@" > {out}/$JOB.txt 2>&1; rc=$?
    grep -q "No available agent" {out}/$JOB.txt || break
    sleep 2
  done
  echo $rc > {out}/$JOB.rc
}}
JOB=job1 submit --workers 2
JOB=job2 submit
# the Studio submits through the same job server (its own workspace: it forces a rebuild)
{sys.executable} {REPO}/tests/studio_ray_check.py \
  {ws}-studio http://127.0.0.1:{dash} {out}/studio.json > {out}/studio.txt 2>&1
# dedup across both nodes (Ray Data groupby + joins) against the single task
(cd {REPO} && {sys.executable} -m tests.spec.dedup_cluster_check 127.0.0.1:{p} {ws}-dedup \
  {out}/dedup.json > {out}/dedup.txt 2>&1)
{RAY} stop --force > /dev/null 2>&1
exit 0
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The cluster script's run: its outputs, the workspace, the logs."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to isolate the test cluster")
    tmp_path = tmp_path_factory.mktemp("cluster")
    out, ws = tmp_path / "out", tmp_path / "ws"
    out.mkdir()
    tmp = f"/tmp/proda-ray-{os.getpid()}"  # short: Ray's socket paths must fit in 108 chars
    script = cluster_script(out, ws, tmp)
    try:
        run = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "bash", "-c",
                              script], capture_output=True, text=True, timeout=1200,
                             check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(f"{tmp}-w", ignore_errors=True)
    logs = {f.name: f.read_text()[-6000:] for f in out.iterdir()}
    return run, out, ws, logs


def test_spec_job_on_two_nodes(cluster):
    run, out, ws, logs = cluster
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:], logs)
    assert (out / "nodes.txt").read_text().strip().splitlines()[-1] == "2", logs
    assert (out / "job1.rc").read_text().strip() == "0", logs["job1.txt"]
    assert "succeeded" in logs["job1.txt"].lower()

    manifest = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    assert manifest["counters"]["documents"] == 11
    assert manifest["cluster"]["nodes"] == 2
    assert sum(manifest["rejected"]["documents.rejected"].values()) == 12
    chunks = manifest["outputs"]["chunks"]
    assert chunks["rows"] >= 8 and (ws / chunks["path"]).is_dir()
    # the second submission is a no-op: same fingerprint
    assert (out / "job2.rc").read_text().strip() == "0", logs["job2.txt"]
    assert '"status": "up-to-date"' in logs["job2.txt"]


def test_the_studio_submits_ray_jobs_that_outlive_it(cluster):
    """`proda studio --ray-address`: a stage started through its API runs as a Ray job; a
    restarted Studio finds it, sees it succeed with its log; a second one is cancelled."""
    _run, out, _ws, logs = cluster
    assert (out / "studio.json").exists(), logs.get("studio.txt")
    seen = json.loads((out / "studio.json").read_text())
    assert seen["session"]["jobs_backend"] == "ray"
    assert seen["started"]["state"] == "running" and seen["started"]["backend"] == "ray"
    assert seen["started"]["id"] in seen["listed"]
    assert seen["done"]["state"] == "succeeded", seen["log"]
    assert "spec built" in seen["log"] and seen["spec_state"] == "fresh"
    assert seen["cancelled"] == "cancelled"


def test_dedup_across_two_nodes_equals_one_task(cluster):
    """``spec.dedup_ray`` on the two nodes: the single task's table and report exactly, on
    planted exact, near, chained, windowed and repeated-id duplicates."""
    _run, out, _ws, logs = cluster
    assert (out / "dedup.json").exists(), logs.get("dedup.txt")
    seen = json.loads((out / "dedup.json").read_text())
    assert seen["live_nodes"] == 2
    assert len(seen["task_nodes"]) == 2, seen["task_nodes"]  # its tasks ran on both
    assert seen["equal"], seen
    assert seen["report"]["near_duplicate"] > 100 and seen["report"]["exact_duplicate"] > 5
