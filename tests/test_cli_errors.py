"""Every user error is one line and exit 2, naming the fix (issue 18, part 5); ``--debug``
shows the traceback. Each case is one that printed a traceback or passed silently before.
The real ``proda`` in its own process; none of these starts Ray."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PRODA = str(Path(sys.executable).with_name("proda"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def proda(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([PRODA, *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)


def one_line(out: subprocess.CompletedProcess) -> str:
    """The error: exit 2, one line on stderr, no traceback."""
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    assert out.returncode == 2, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in out.stderr, lines
    return lines[0]


@pytest.fixture
def ws(tmp_path) -> Path:
    p = tmp_path / "ws"
    p.mkdir()
    return p


def test_a_misspelt_key_in_proda_yaml_is_refused_with_the_nearest_field(ws):
    (ws / "proda.yaml").write_text("spec:\n  chunk:\n    max_tokenz: 512\n")
    line = one_line(proda("spec", "-w", str(ws), "-c", str(ws)))
    assert "unknown key 'spec.chunk.max_tokenz'" in line and "'max_tokens'" in line
    # inside a tagged union (the engine), the key is named as the user wrote it
    (ws / "proda.yaml").write_text("extract:\n  engine:\n    kind: openai\n    base_urll: x\n")
    line = one_line(proda("extract", "-w", str(ws)))
    assert "unknown key 'extract.engine.base_urll'" in line and "'base_url'" in line
    (ws / "proda.yaml").write_text("spek: {}\n")
    assert "did you mean 'spec'" in one_line(proda("bench", "-w", str(ws)))


def test_a_misspelt_set_and_a_bad_value_are_one_line(ws):
    line = one_line(proda("spec", "-w", str(ws), "-c", str(ws),
                          "--set", "spec.chunk.max_tokenz=3"))
    assert "max_tokenz" in line and "'max_tokens'" in line
    line = one_line(proda("spec", "-w", str(ws), "-c", str(ws),
                          "--set", "spec.chunk.max_tokens=lots"))
    assert "spec.chunk.max_tokens" in line and "integer" in line


@pytest.mark.parametrize("text,expect", [
    ("spec: [\n", "not valid YAML at line 2"),
    ("- a\n- b\n", "expected a mapping"),
    ("spec:\n  chunk: 12\n", "spec.chunk"),
])
def test_a_broken_proda_yaml_is_one_line(ws, text, expect):
    (ws / "proda.yaml").write_text(text)
    assert expect in one_line(proda("build", "-w", str(ws)))


def test_stages_in_the_wrong_order_are_one_line_before_ray_starts(ws):
    for cmd, table in (("train", "sft_samples"), ("build", "statements"),
                       ("bench", "chains"), ("eval", "bench_items")):
        t0 = time.monotonic()
        line = one_line(proda(cmd, "-w", str(ws)))
        assert f"'{table}'" in line and "run the upstream stage first" in line, line
        assert time.monotonic() - t0 < 30  # no Ray was started to say so


def test_paths_that_cannot_be_a_workspace_or_a_corpus(tmp_path, ws):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file, not a workspace directory" in one_line(proda("init", str(afile)))
    assert "is a file" in one_line(proda("status", "-w", str(afile)))
    assert "is a file" in one_line(proda("spec", "-w", str(afile), "-c", str(ws)))
    assert "no workspace at" in one_line(proda("status", "-w", str(tmp_path / "absent")))
    line = one_line(proda("spec", "-w", str(ws), "-c", str(tmp_path / "nothing" / "*.jsonl")))
    assert "matches no file" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no file to read" in one_line(proda("spec", "-w", str(ws), "-c", str(empty)))
    assert "not found" in one_line(proda("spec", "-w", str(ws), "-c", str(tmp_path / "gone")))


def test_init_keeps_an_existing_config_and_debug_shows_the_traceback(ws):
    assert proda("init", str(ws), "--name", "first").returncode == 0
    again = proda("init", str(ws))
    assert again.returncode == 0 and "name: first" in (ws / "proda.yaml").read_text()
    (ws / "proda.yaml").write_text("spec: [\n")
    out = proda("--debug", "spec", "-w", str(ws), "-c", str(ws))
    assert out.returncode != 0 and "Traceback" in out.stderr and "ConfigError" in out.stderr


def test_switching_an_engine_kind_with_set_starts_that_section_afresh():
    """--set bench.engine.kind=openai used to keep the local engine's keys (now refused as
    unknown); an optional engine that is unset (eval.engine) can be set by its kind."""
    from proda_ray.config import ProjectConfig, apply_overrides

    cfg = apply_overrides(ProjectConfig(), ["bench.engine.kind=openai",
                                            "bench.engine.base_url=http://h:1/v1"])
    assert cfg.bench.engine.kind == "openai" and cfg.bench.engine.base_url == "http://h:1/v1"
    cfg = apply_overrides(ProjectConfig(), ["eval.engine.kind=vllm"])
    assert cfg.eval.engine.kind == "vllm"
