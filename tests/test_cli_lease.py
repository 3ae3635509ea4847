"""Two `proda` runs on one workspace (issue 18, part 4): one proceeds, the other exits 2 with
who holds the workspace, and never touches the first's files; a SIGKILLed holder frees the
workspace for the next run at once. Real commands, each with its own Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CORPUS

PRODA = str(Path(sys.executable).with_name("proda"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}
pytestmark = pytest.mark.slow


def _start(ws: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([PRODA, "spec", "-w", str(ws), "-c", str(SAMPLE_CORPUS), "-q",
                             "--workers", "1", *extra], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_lease(ws: Path, proc: subprocess.Popen) -> dict:
    lease = ws / "lease.json"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if lease.exists():
            return json.loads(lease.read_text())
        time.sleep(0.05)
    raise AssertionError(f"no lease appeared: {proc.communicate()}")


def test_a_second_run_is_refused_while_the_first_finishes(tmp_path):
    ws = tmp_path / "ws"
    first = _start(ws)
    held = _wait_for_lease(ws, first)
    assert held["pid"] == first.pid and held["command"] == "proda spec"
    t0 = time.monotonic()
    second = subprocess.run([PRODA, "spec", "-w", str(ws), "-c", str(SAMPLE_CORPUS),
                             "--force"], env=ENV, capture_output=True, text=True, timeout=60)
    lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert "workspace busy" in lines[0] and f"pid {first.pid}" in lines[0]
    assert time.monotonic() - t0 < 20  # refused before it started Ray
    assert first.poll() is None, "the first run ended before the second was refused"
    err = first.communicate(timeout=300)[1]
    assert first.returncode == 0, err[-3000:]  # --force of the refused run deleted nothing
    assert "spec built" in err and not (ws / "lease.json").exists()


def test_a_killed_holder_frees_the_workspace_for_the_next_run(tmp_path):
    ws = tmp_path / "ws"
    first = _start(ws)
    _wait_for_lease(ws, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert (ws / "lease.json").exists()  # left behind by the dead holder
    rerun = subprocess.run([PRODA, "spec", "-w", str(ws), "-c", str(SAMPLE_CORPUS), "-q"],
                           env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "spec built" in rerun.stderr and not (ws / "lease.json").exists()
