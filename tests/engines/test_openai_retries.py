"""Transport mechanics of the openai engine: 429 + Retry-After, 5xx, 4xx, timeouts.

A scripted HTTP server on loopback plays the failure modes a real server produces under load;
it never stands in for a model (generation is tested against llama.cpp's server).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

from proda_ray.engines import GenerationRequest, SamplingParams
from proda_ray.engines.base import OpenAIEngineConfig
from proda_ray.engines.openai import OpenAIEngine

OK = {"choices": [{"text": "done"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


@pytest.fixture
def scripted_server():
    """Serves /v1/completions answering with the next scripted (status, delay_s) per call."""
    script: list[tuple[int, float]] = []
    seen: list[float] = []

    async def handler(request):
        seen.append(time.monotonic())
        status, delay = script.pop(0) if script else (200, 0.0)
        await asyncio.sleep(delay)
        if status == 200:
            return web.json_response(OK)
        headers = {"Retry-After": "0.3"} if status == 429 else {}
        return web.Response(status=status, text="scripted failure", headers=headers)

    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/completions", handler)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1", script, seen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


def run(url: str, n: int = 1, **kw):
    eng = OpenAIEngine(OpenAIEngineConfig(base_url=url, backoff_s=0.05, **kw))
    return eng.generate([GenerationRequest("p", SamplingParams(max_tokens=1))] * n)


def test_429_retry_after_then_success(scripted_server):
    url, script, seen = scripted_server
    script += [(429, 0.0), (503, 0.0)]
    (r,) = run(url, max_retries=3)
    assert r.ok and r.text == "done" and r.attempts == 3 and r.prompt_tokens == 3
    assert seen[1] - seen[0] >= 0.25  # honoured Retry-After: 0.3


def test_client_errors_are_not_retried(scripted_server):
    url, script, _ = scripted_server
    script += [(400, 0.0)]
    (r,) = run(url, max_retries=3)
    assert not r.ok and r.error.startswith("http_400") and r.attempts == 1


def test_timeouts_retry_then_fail_with_reason(scripted_server):
    url, script, _ = scripted_server
    script += [(200, 2.0), (200, 2.0)]
    (r,) = run(url, max_retries=1, timeout_s=0.3)
    assert not r.ok and r.error.startswith("timeout") and r.attempts == 2


def test_concurrency_and_rate_limit(scripted_server):
    url, _, seen = scripted_server
    t0 = time.monotonic()
    results = run(url, n=6, concurrency=3, requests_per_s=10)
    assert all(r.ok for r in results)
    assert time.monotonic() - t0 >= 0.45  # 6 requests at 10/s: >= 0.5 s minus jitter
    assert len(seen) == 6
