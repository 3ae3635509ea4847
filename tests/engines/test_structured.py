"""Parsing and retry logic of structured output (a scripted engine: parsing mechanics only)."""

from __future__ import annotations

from proda_ray.engines import GenerationRequest, GenerationResult, SamplingParams, generate_json
from proda_ray.engines.base import Engine
from proda_ray.engines.structured import parse_json

SCHEMA = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"},
                                                     "minItems": 1}},
          "required": ["steps"]}


class Scripted(Engine):
    """Replies from a list, one per call, and records the seeds it was asked with."""

    kind = "scripted"

    def __init__(self, replies: list[GenerationResult]):
        self.replies = list(replies)
        self.seeds: list[int] = []

    @property
    def model_id(self) -> str:
        return "scripted"

    def generate(self, requests):
        self.seeds += [r.params.seed for r in requests]
        return [self.replies.pop(0) for _ in requests]


def test_parse_json_reasons():
    assert parse_json('{"steps": ["a"]}', SCHEMA) == ({"steps": ["a"]}, None)
    assert parse_json('```json\n{"steps": ["a"]}\n```', SCHEMA)[0] == {"steps": ["a"]}
    assert parse_json('{"steps": ["a"]} and then more text', SCHEMA)[0] == {"steps": ["a"]}
    assert parse_json("", SCHEMA)[1].startswith("empty_output")
    assert parse_json("{not json", SCHEMA)[1].startswith("invalid_json")
    err = parse_json('{"steps": []}', SCHEMA)[1]
    assert err.startswith("schema_mismatch: steps")


def test_retries_with_new_seed_then_gives_a_reason():
    timeout = GenerationResult(None, error="timeout: no reply")
    # replies are consumed per batch: [p1, p2], then the retries [p1, p2], then [p2]
    eng = Scripted([GenerationResult("{oops"), timeout,
                    GenerationResult('{"steps": ["x"]}'), timeout,
                    timeout])
    reqs = [GenerationRequest("p1", SamplingParams(seed=7), SCHEMA),
            GenerationRequest("p2", SamplingParams(seed=7), SCHEMA)]
    ok, failed = generate_json(eng, reqs, retries=2)
    assert ok.value == {"steps": ["x"]} and ok.attempts == 2 and ok.error is None
    assert failed.value is None and failed.error.startswith("timeout") and failed.attempts == 3
    assert len(failed.results) == 3
    assert sorted(eng.seeds) == [7, 7, 8, 8, 9]  # every retry asks with a new seed
