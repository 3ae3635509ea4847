"""Engines fail loudly (issue 18): a dead port, a server that refuses the key, an unset key
variable and a server that never answers each stop the stage before it spends work, within a
bounded time, with a one-line cause; the stage is not committed (not fresh), and a rerun with
the server up completes. A server that dies mid-run trips the circuit breaker instead of
turning every remaining item into a per-item failure. All servers here are real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from proda_ray.engines.base import (
    EngineUnavailable,
    GenerationRequest,
    OpenAIEngineConfig,
    SamplingParams,
    preflight,
)
from proda_ray.engines.openai import OpenAIEngine
from tests.conftest import SAMPLE_CORPUS, free_port


def cfg(url: str, **kw) -> OpenAIEngineConfig:
    return OpenAIEngineConfig(base_url=url, api_key_env="PRODA_TEST_KEY", **kw)


@pytest.fixture
def refusing_server():
    """A real HTTP server that answers 401 to everything (a key it does not accept)."""
    async def handler(request):
        return web.Response(status=401, text='{"error": "invalid api key"}')

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    port = free_port()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}/v1"
    loop.call_soon_threadsafe(loop.stop)


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(s.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    stop.set()
    for c in held:
        c.close()
    s.close()


def test_a_dead_port_fails_the_preflight_at_once():
    t0 = time.monotonic()
    with pytest.raises(EngineUnavailable, match="cannot be reached"):
        preflight(cfg(f"http://127.0.0.1:{free_port()}/v1"))
    assert time.monotonic() - t0 < 10


def test_a_refused_key_and_an_unset_key_are_named(refusing_server, monkeypatch):
    monkeypatch.delenv("PRODA_TEST_KEY", raising=False)
    with pytest.raises(EngineUnavailable, match=r"HTTP 401\): \$PRODA_TEST_KEY is not set"):
        preflight(cfg(refusing_server))
    monkeypatch.setenv("PRODA_TEST_KEY", "sk-wrong")
    with pytest.raises(EngineUnavailable) as e:
        preflight(cfg(refusing_server))
    assert "the key in $PRODA_TEST_KEY was refused" in str(e.value)
    assert "sk-wrong" not in str(e.value)  # the key itself never shows


def test_a_silent_server_fails_within_the_preflight_timeout(silent_server):
    t0 = time.monotonic()
    with pytest.raises(EngineUnavailable, match=r"no reply .* within 2 s"):
        preflight(cfg(silent_server, preflight_timeout_s=2))
    assert time.monotonic() - t0 < 10


def test_the_breaker_stops_a_run_whose_server_is_gone():
    eng = OpenAIEngine(cfg(f"http://127.0.0.1:{free_port()}/v1", max_retries=0,
                           max_consecutive_failures=5, concurrency=2))
    reqs = [GenerationRequest(f"q{i}", SamplingParams(max_tokens=2)) for i in range(50)]
    with pytest.raises(EngineUnavailable, match="5 requests in a row failed"):
        eng.generate(reqs)


def test_the_stage_is_refused_not_committed_then_completes_with_the_server_up(
        loop_ws, llama_server, tmp_path):
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.evaluate.stage import EvalStage
    from proda_ray.workspace import Workspace, run_stage

    src, _bench, _ = loop_ws
    shutil.copytree(src.uri, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    dead = EvalConfig(model="engine", unit_items=8, engine=OpenAIEngineConfig(
        base_url=f"http://127.0.0.1:{free_port()}/v1"))
    t0 = time.monotonic()
    with pytest.raises(EngineUnavailable):
        run_stage(ws, EvalStage(dead, label="served"), show_progress=False)
    assert time.monotonic() - t0 < 30
    assert not ws.exists("stages", "eval.served", "manifest.json")  # not fresh: not there
    up = EvalConfig(model="engine", unit_items=8, engine=OpenAIEngineConfig(
        base_url=llama_server.base_url, concurrency=2))
    r = run_stage(ws, EvalStage(up, label="served"), show_progress=False)
    assert r.manifest.usage.calls > 0 and r.manifest.outputs["predictions.served"].rows > 0


def test_the_cli_says_why_in_one_line_and_exits_2(tmp_path):
    proda = str(Path(sys.executable).with_name("proda"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "", "COLUMNS": "4000"}
    ws = str(tmp_path / "ws")
    spec = subprocess.run([proda, "spec", "-w", ws, "-c", str(SAMPLE_CORPUS), "-q"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert spec.returncode == 0, spec.stdout + spec.stderr
    port = free_port()
    t0 = time.monotonic()
    engine = json.dumps({"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1"})
    r = subprocess.run([proda, "extract", "-w", ws, "-q", "--set", f"extract.engine={engine}"],
                       capture_output=True, text=True, timeout=300, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert f"engine 'openai' at http://127.0.0.1:{port}/v1 cannot be reached" in out
    assert "Traceback" not in out and "built" not in out
    assert time.monotonic() - t0 < 60
    assert not (Path(ws) / "stages" / "extract" / "manifest.json").exists()  # not fresh
