"""The response cache: a second run costs no calls; failures are not cached."""

from __future__ import annotations

from proda_ray.engines import CachedEngine, GenerationRequest, GenerationResult, ResponseCache
from proda_ray.engines import SamplingParams as SP
from proda_ray.workspace import Workspace
from tests.engines.test_structured import Scripted


def test_cache_hits_skip_the_engine_and_count_usage(tmp_path):
    ws = Workspace(tmp_path)
    first = Scripted([GenerationResult("a", 10, 2, 0.5),
                      GenerationResult(None, error="timeout: x")])
    eng = CachedEngine(first, ResponseCache(ws))
    reqs = [GenerationRequest("p1"), GenerationRequest("p2")]
    out = eng.generate(reqs)
    assert [r.text for r in out] == ["a", None]
    assert eng.usage.calls == 2 and eng.usage.prompt_tokens == 10 and eng.usage.failed_calls == 1

    second = Scripted([GenerationResult("b", 11, 3, 0.4)])
    again = CachedEngine(second, ResponseCache(ws))
    out2 = again.generate(reqs)
    assert [r.text for r in out2] == ["a", "b"] and out2[0].cached
    assert again.usage.cached_calls == 1 and again.usage.calls == 1  # only the failed one re-sent
    assert second.seeds == [0]


def test_key_covers_params_and_schema():
    k = ResponseCache.key
    base = GenerationRequest("p")
    assert k("local", "m", base) == k("local", "m", GenerationRequest("p"))
    assert k("local", "m", base) != k("local", "m", GenerationRequest("p", SP(max_tokens=9)))
    assert k("local", "m", base) != k("local", "m", GenerationRequest("p", schema={"type": "x"}))
    assert k("local", "m", base) != k("local", "m2", base)
    assert k("local", "m", base) != k("openai", "m", base)
