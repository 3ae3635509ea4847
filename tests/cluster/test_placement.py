"""Placement by declared resources on a real 3-node Ray cluster on loopback.

The nodes advertise their kind as on a cloud cluster (`ray start --resources`, and
`--num-gpus` on this CPU machine, which Ray allows): a head of kind ``cpu``, an ``inference``
node with one "L4" and a ``train`` node with two GPUs. Stages of the two-round loop's
workspace are rerun on it with ``--force``, and Ray's state API (not proda's records) says
where their tasks and actors ran: spec's on the cpu node, training's workers on the train
node, evaluation's engine replicas on the inference node. A stage asking for an accelerator
the cluster lacks fails at once with one clear line. ``proda submit``/``logs``/``jobs``/
``cancel`` go through the cluster's job server with this tree shipped as the working_dir.

The checks can fail: the same script with ``--set ray.placement=off`` on each stage (run by
hand on 2026-12-07) spread spec's tasks over the train and inference nodes and put the training
workers and the evaluation engine on the cpu head.

The cluster lives in its own PID namespace (see tests/jobs/test_ray_job_submit.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.jobs.test_ray_job_submit import free_ports

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PROBE = Path(__file__).with_name("placement_probe.py")
NODES = {  # name -> ray start flags: what each node advertises
    "cpu": "--num-cpus=2 --resources='{\"proda_cpu\": 1}'",
    "inference": "--num-cpus=1 --num-gpus=1 "
                 "--resources='{\"proda_inference\": 1, \"accelerator_type:L4\": 1}'",
    "train": "--num-cpus=2 --num-gpus=2 --resources='{\"proda_train\": 1}'",
}


def cluster_script(out: Path, ws: Path, tmp: str) -> str:
    p, dash, a1, a2, m1, r1, cl, *w = free_ports(7 + 8)
    proda = f"{BIN}/proda"
    gcs = f"127.0.0.1:{p}"
    job = f"--address http://127.0.0.1:{dash}"

    def step(name: str, cmd: str) -> str:
        return (f"s=$(date +%s%N); {cmd} > {out}/{name}.txt 2>&1; echo $? > {out}/{name}.rc; "
                f"echo $(( ($(date +%s%N) - s) / 1000000 )) > {out}/{name}.ms; "
                f"{sys.executable} {PROBE} {gcs} {out}/{name}.json >> {out}/probe.log 2>&1")

    return f"""
set -u
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 PATH={BIN}:$PATH COLUMNS=4000
unset RAY_ADDRESS PRODA_SCALABLE_KINDS
{BIN}/ray start --head --port={p} {NODES["cpu"]} --include-dashboard=true \\
  --dashboard-port={dash} --dashboard-host=127.0.0.1 --dashboard-agent-listen-port={a1} \\
  --dashboard-agent-grpc-port={a2} --metrics-export-port={m1} --runtime-env-agent-port={r1} \\
  --ray-client-server-port={cl} --temp-dir={tmp} --disable-usage-stats > {out}/head.log 2>&1 \\
  || exit 11
{BIN}/ray start --address={gcs} {NODES["inference"]} --dashboard-agent-listen-port={w[0]} \\
  --dashboard-agent-grpc-port={w[1]} --metrics-export-port={w[2]} \\
  --runtime-env-agent-port={w[3]} --temp-dir={tmp}-i > {out}/inference.log 2>&1 || exit 12
{BIN}/ray start --address={gcs} {NODES["train"]} --dashboard-agent-listen-port={w[4]} \\
  --dashboard-agent-grpc-port={w[5]} --metrics-export-port={w[6]} \\
  --runtime-env-agent-port={w[7]} --temp-dir={tmp}-t > {out}/train.log 2>&1 || exit 13
export RAY_ADDRESS={gcs}
{sys.executable} {PROBE} {gcs} {out}/start.json > {out}/probe.log 2>&1
{step("spec", f"{proda} spec -w {ws} -q --force")}
{step("train", f"{proda} train -w {ws} -q --force --set train.max_steps=2")}
{step("eval", f"{proda} eval -w {ws} -q --force")}
{step("no_h100", f"timeout 120 {proda} train -w {ws} -q --set train.accelerator_type=H100")}
unset RAY_ADDRESS
# the job API: a stage with this tree shipped; then one cancelled while it runs
submit() {{  # the job agent can need a few seconds after start: retry while it says so
  for i in $(seq 30); do
    {proda} submit {job} "$@" > {out}/$JOB.txt 2>&1; rc=$?
    grep -q "No available agent" {out}/$JOB.txt || break
    sleep 2
  done
  echo $rc > {out}/$JOB.rc
}}
JOB=submit submit --submission-id proda-spec-1 -- spec -w {ws} -q
{proda} jobs {job} > {out}/jobs.txt 2>&1
{proda} logs proda-spec-1 {job} > {out}/logs.txt 2>&1
JOB=submit2 submit --no-wait --submission-id proda-eval-2 -- eval -w {ws} -q --force
sleep 5
{proda} status -w {ws} > {out}/status.txt 2>&1; echo $? > {out}/status.rc  # while it runs
{proda} cancel proda-eval-2 {job} > {out}/cancel.txt 2>&1; echo $? > {out}/cancel.rc
{proda} logs nosuchjob {job} > {out}/nosuch.txt 2>&1; echo $? > {out}/nosuch.rc
{BIN}/ray stop --force > /dev/null 2>&1
exit 0
"""


@pytest.fixture(scope="module")
def placed(request, tmp_path_factory):
    """The script's outputs on a copy of the two-round workspace (``PRODA_LOOP_TEST_WS``:
    another finished one, for a quicker check), without its checkpoints."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to isolate the test cluster")
    src = os.environ.get("PRODA_LOOP_TEST_WS")
    src = Path(src) if src else Path(request.getfixturevalue("two_round_loop").ws.uri)
    tmp_path = tmp_path_factory.mktemp("placement")
    out, ws = tmp_path / "out", tmp_path / "ws"
    out.mkdir()
    shutil.copytree(src, ws, ignore=shutil.ignore_patterns("ray", "studio"))
    tmp = f"/tmp/proda-pl-{os.getpid()}"
    try:
        run = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "bash", "-c",
                              cluster_script(out, ws, tmp)], capture_output=True, text=True,
                             timeout=1500, check=False, cwd=REPO)
    finally:
        for suffix in ("", "-i", "-t"):
            shutil.rmtree(tmp + suffix, ignore_errors=True)
    logs = {f.name: f.read_text()[-4000:] for f in out.iterdir() if f.suffix != ".json"}
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:], logs)
    return out, ws, logs


def _kinds(dump: dict) -> dict[str, str]:
    """node id -> the kind it advertises (exactly one)."""
    out = {}
    for node, res in dump["nodes"].items():
        assert len(res) == 1, res
        out[node] = res[0].removeprefix("proda_")
    return out


def _asked(resources: dict) -> dict[str, float]:
    """What a task or actor asked for, by resource name: inside a placement group Ray
    reports ``CPU_group_<i>_<pg>`` (and ``CPU_group_<pg>``) for the bundle's ``CPU``."""
    out: dict[str, float] = {}
    for k, v in resources.items():
        base = re.sub(r"_group(_\d+)?_[0-9a-f]+$", "", k)
        out[base] = max(out.get(base, 0), v)
    return out


def _new_work(out: Path, name: str, before: str) -> list[dict]:
    """The tasks and actors that appeared during a step and asked for CPUs or GPUs (the
    work; Ray's own zero-CPU bookkeeping actors are left out), with the kind of their node."""
    prev, now = (json.loads((out / f"{n}.json").read_text()) for n in (before, name))
    kinds = _kinds(now)
    seen = {x["id"] for x in prev["tasks"] + prev["actors"]}
    work = []
    for x in now["tasks"] + now["actors"]:
        if x["id"] in seen or not x["node"]:
            continue
        asked = _asked(x["resources"])
        if asked.get("CPU", 0) <= 0 and asked.get("GPU", 0) <= 0:
            continue
        work.append({**x, "asked": asked, "kind": kinds[x["node"]]})
    return work


def _ok(out: Path, name: str, logs: dict) -> None:
    assert (out / f"{name}.rc").read_text().strip() == "0", logs.get(f"{name}.txt")


def test_the_cluster_has_one_node_of_each_kind(placed):
    out, _ws, _logs = placed
    start = json.loads((out / "start.json").read_text())
    assert sorted(_kinds(start).values()) == ["cpu", "inference", "train"]
    assert len(start["alive"]) == 3


def test_spec_runs_on_the_cpu_node(placed):
    out, ws, logs = placed
    _ok(out, "spec", logs)
    work = _new_work(out, "spec", "start")
    assert work, "the spec stage left no task in Ray's state"
    assert {w["kind"] for w in work} == {"cpu"}, [(w["name"], w["kind"]) for w in work]
    assert any("_unit_task" in w["name"] for w in work)  # its units (the executor's tasks)
    m = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    assert m["cluster"]["nodes"] == 3 and m["cluster"]["node_kinds"] is True


def test_training_workers_run_on_the_train_node(placed):
    out, ws, logs = placed
    _ok(out, "train", logs)
    work = _new_work(out, "train", "spec")
    workers = [w for w in work if "TrainWorker" in w["name"]]
    assert len(workers) == 2, [(w["name"], w["kind"]) for w in work]  # num_workers: 2
    assert {w["kind"] for w in workers} == {"train"}
    assert all(w["asked"].get("proda_train") for w in workers)
    m = json.loads((ws / "stages" / "train" / "manifest.json").read_text())
    assert m["counters"]["steps"] == 2


def test_evaluation_replicas_run_on_the_inference_node(placed):
    out, _ws, logs = placed
    _ok(out, "eval", logs)
    work = _new_work(out, "eval", "train")
    engines = [w for w in work if "_UnitActor" in w["name"] or "_unit_task" in w["name"]]
    assert engines, [(w["name"], w["kind"]) for w in work]
    assert {w["kind"] for w in engines} == {"inference"}
    # nothing of eval's ran on the train node
    assert "train" not in {w["kind"] for w in work}


def test_a_missing_accelerator_fails_at_once_with_one_line(placed):
    out, _ws, _logs = placed
    rc = int((out / "no_h100.rc").read_text())
    text = (out / "no_h100.txt").read_text()
    assert rc == 2, (rc, text)  # proda's expected-error exit, not timeout's 124
    assert int((out / "no_h100.ms").read_text()) < 60_000, text
    assert "needs a 'train' node" in text and "accelerator_type:H100" in text
    assert "Traceback" not in text


def test_submit_logs_jobs_and_cancel_through_the_job_server(placed):
    out, _ws, logs = placed
    _ok(out, "submit", logs)
    text = (out / "submit.txt").read_text()
    assert "shipped as working_dir" in text and "succeeded" in text, text
    assert "up to date" in text or "up-to-date" in text, text  # same fingerprint as above
    assert "proda-spec-1" in (out / "jobs.txt").read_text()
    assert "spec" in (out / "logs.txt").read_text()
    _ok(out, "submit2", logs)
    assert (out / "status.rc").read_text().strip() == "0", logs.get("status.txt")
    assert "eval" in (out / "status.txt").read_text()
    assert (out / "cancel.rc").read_text().strip() == "0", logs.get("cancel.txt")
    assert "stopped" in (out / "cancel.txt").read_text()
    assert (out / "nosuch.rc").read_text().strip() == "2"
    assert "Traceback" not in (out / "nosuch.txt").read_text()


def test_submit_needs_a_job_server_address():
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",
                                                            "RAY_API_SERVER_ADDRESS")}
    r = subprocess.run([f"{BIN}/proda", "submit", "--", "spec", "-w", "x"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no job server" in r.stdout + r.stderr, r.stdout + r.stderr
