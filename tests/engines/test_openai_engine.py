"""The openai engine against a real llama.cpp OpenAI-compatible server (Gemma 3 270M)."""

from __future__ import annotations

import threading
import time

import pytest

from proda_ray.engines import GenerationRequest, SamplingParams, generate_json
from proda_ray.engines.base import OpenAIEngineConfig
from proda_ray.engines.openai import OpenAIEngine
from tests.conftest import free_port

pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {
    "term": {"type": "string", "maxLength": 40},
    "type": {"type": "string", "enum": ["process", "quantity", "object"]}},
    "required": ["term", "type"], "additionalProperties": False}
PROMPT = ("Text: Heat flows from hot objects to cold objects.\n"
          'JSON: {"term": "heat", "type": "quantity"}\n\n'
          "Text: Photosynthesis makes sugar from light.\nJSON: ")


def engine(url: str, **kw) -> OpenAIEngine:
    return OpenAIEngine(OpenAIEngineConfig(base_url=url, model="gemma-3-270m",
                                           schema_mode="llama_cpp", **kw))


def test_constrained_json_from_a_real_server(llama_server):
    eng = engine(llama_server.base_url, concurrency=2)
    reqs = [GenerationRequest(PROMPT, SamplingParams(max_tokens=48, seed=i), SCHEMA)
            for i in range(3)]
    results = generate_json(eng, reqs, retries=1)
    for r in results:
        assert r.error is None, r.error
        assert r.value["type"] in ("process", "quantity", "object")
        call = r.results[-1]
        assert call.prompt_tokens > 20 and call.completion_tokens > 0 and call.latency_s > 0


def test_server_killed_mid_run_and_restarted(llama_server):
    """SIGKILL the server while requests are in flight; bring it back; every request lands."""
    eng = engine(llama_server.base_url, concurrency=2, max_retries=8, backoff_s=0.5,
                 timeout_s=60)
    reqs = [GenerationRequest(PROMPT, SamplingParams(max_tokens=32, seed=i), SCHEMA)
            for i in range(8)]

    def chaos():
        time.sleep(1.0)
        llama_server.kill()
        time.sleep(2.0)
        llama_server.start(wait=False)

    t = threading.Thread(target=chaos)
    t.start()
    results = eng.generate(reqs)
    t.join()
    assert all(r.ok for r in results), [r.error for r in results]
    assert max(r.attempts for r in results) > 1, "the kill should have forced retries"


def test_dead_server_gives_reasons_not_exceptions():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    eng = engine(url, max_retries=2, backoff_s=0.05, timeout_s=5)
    results = eng.generate([GenerationRequest("x", SamplingParams(max_tokens=4))] * 3)
    for r in results:
        assert not r.ok and r.error.startswith("connection_error") and r.attempts == 3
    failed = generate_json(eng, [GenerationRequest("x", SamplingParams(max_tokens=4), SCHEMA)],
                           retries=1)[0]
    assert failed.value is None and failed.error.startswith("connection_error")


CHOICE_PROMPT = "Question: which is a primary colour?\nA. red\nB. loud\nC. heavy\nD. fast\nAnswer:"
CHOICES = (" A", " B", " C", " D", " A,C", " B,D")


def test_guided_choice_by_grammar_on_a_server_and_in_process(llama_server):
    """Answer choices travel as a GBNF grammar (llama.cpp's server and the embedded engine):
    every reply is one of them, on every seed, sampled hot."""
    from proda_ray.engines.base import LocalEngineConfig, build_engine

    reqs = [GenerationRequest(CHOICE_PROMPT, SamplingParams(max_tokens=6, temperature=1.5,
                                                            seed=i), choices=CHOICES)
            for i in range(4)]
    for eng in (engine(llama_server.base_url), build_engine(LocalEngineConfig(n_ctx=512))):
        got = eng.generate(reqs)
        assert all(r.ok for r in got), [r.error for r in got]
        assert all(r.text in CHOICES for r in got), [r.text for r in got]
