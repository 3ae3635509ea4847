"""The `proda` command line, run as a user runs it: in its own process, with its own Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import OPENSTAX, SAMPLE_CORPUS, free_port

PRODA = str(Path(sys.executable).with_name("proda"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def proda(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([PRODA, *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_help_explains():
    out = proda("--help")
    assert out.returncode == 0
    for cmd in ("init", "spec", "run", "status"):
        assert cmd in out.stdout
    assert "--chunk-tokens" in proda("spec", "--help").stdout


def test_init_spec_status(tmp_path):
    ws = str(tmp_path / "ws")
    assert proda("init", ws, "--corpus", str(SAMPLE_CORPUS)).returncode == 0
    assert "corpus" in (tmp_path / "ws" / "proda.yaml").read_text()
    out = proda("spec", "-w", ws, "-q")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "11 documents" in out.stderr
    st = json.loads(proda("status", "-w", ws, "--json").stdout)
    spec = st["stages"]["spec"]
    assert spec["state"] == "fresh"
    assert spec["tables"]["documents"]["rows"] == 11
    assert spec["rejected"]["documents.rejected"]["corrupt_file"] == 3
    assert spec["report"]["dedup"]["documents"]["near_duplicate"] == 1
    human = proda("status", "-w", ws)
    assert human.returncode == 0 and "unsupported_format" in human.stdout
    # up to date: answered without Ray (an address where no cluster listens is never used)
    again = proda("spec", "-w", ws, "-q", "--address", f"127.0.0.1:{free_port()}")
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr[-2000:]
    rebuilt = proda("spec", "-w", ws, "-q", "--chunk-tokens", "96", "--overlap-tokens", "8")
    assert "spec built" in rebuilt.stderr


def test_clear_errors(tmp_path):
    ws = str(tmp_path / "ws")
    bad = proda("spec", "-w", ws, "--set", "spec.chunk.nope=3")
    assert bad.returncode == 2 and "unknown field" in bad.stderr
    none = proda("spec", "-w", ws)
    assert none.returncode == 2 and "no corpus" in none.stderr
    missing = proda("spec", "-w", ws, "--corpus", str(tmp_path / "nothing-here"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    assert proda("status", "-w", str(tmp_path / "absent")).returncode == 2


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path):
    """Kill `proda spec` with SIGKILL during chunking; the rerun keeps finished shards."""
    files = sorted(OPENSTAX.glob("0*_*.jsonl.gz"))[:4]
    if len(files) < 4:
        pytest.skip("OpenStax corpus not available")
    ws = tmp_path / "ws"
    args = [PRODA, "spec", "-w", str(ws), "-q", "--workers", "1",
            "--set", "spec.read.shard_bytes=1000000"]
    for f in files:
        args += ["-c", str(f)]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    runs = ws / "stages" / "spec" / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and not list(runs.glob("*/p3/*.done.json")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ws / "stages" / "spec" / "manifest.json").exists(), "killed too late"
    p1 = sorted(runs.glob("*/p1/*.done.json"))
    p3 = sorted(runs.glob("*/p3/*.done.json"))
    n_shards_total = len(p1)
    assert n_shards_total >= 2 and 1 <= len(p3) < n_shards_total
    before = {p: p.stat().st_mtime_ns for p in p1 + p3}

    out = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in p1 + p3} == before  # finished shards untouched
    manifest = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    assert manifest["counters"]["documents"] == manifest["counters"]["documents_read"]
    assert manifest["counters"]["shards"] == n_shards_total
