"""Structured output: parse, validate against the schema, retry, or fail with a reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import jsonschema

from proda_ray.engines.base import Engine, GenerationRequest, GenerationResult

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


@dataclass
class JsonResult:
    value: object | None  # the parsed, schema-valid JSON
    error: str | None  # "<reason>: <detail>" after the last attempt
    raw: str | None  # the last raw text, kept for the rejection record
    attempts: int
    results: list[GenerationResult]  # every call made (for usage accounting)


def parse_json(text: str | None, schema: dict | None) -> tuple[object | None, str | None]:
    """(value, None) or (None, reason: detail)."""
    if text is None or not text.strip():
        return None, "empty_output: the model returned no text"
    s = _FENCE.sub("", text.strip())
    try:
        value = json.loads(s)
    except json.JSONDecodeError as e:
        # base models sometimes continue after a complete object: take the first JSON value
        try:
            value, _ = json.JSONDecoder().raw_decode(s)
        except json.JSONDecodeError:
            return None, f"invalid_json: {e.msg} at char {e.pos}"
    if schema is not None:
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as e:
            path = "/".join(str(p) for p in e.absolute_path) or "(root)"
            return None, f"schema_mismatch: {path}: {e.message[:200]}"
    return value, None


def generate_json(engine: Engine, requests: list[GenerationRequest], retries: int = 2
                  ) -> list[JsonResult]:
    """Generate, parse and validate each request; failed ones are retried with a new seed.

    A retry changes the seed (and so the cache key), so a cached bad answer is not replayed.
    """
    out: list[JsonResult | None] = [None] * len(requests)
    pending = list(range(len(requests)))
    calls: list[list[GenerationResult]] = [[] for _ in requests]
    attempt = 0
    while pending:
        batch = []
        for i in pending:
            r = requests[i]
            if attempt:
                r = GenerationRequest(r.prompt, r.params.model_copy(
                    update={"seed": r.params.seed + attempt}), r.schema)
            batch.append(r)
        results = engine.generate(batch)
        still = []
        for i, res in zip(pending, results, strict=True):
            calls[i].append(res)
            value, err = (None, res.error) if not res.ok else parse_json(res.text,
                                                                          requests[i].schema)
            if err is None or attempt >= retries:
                out[i] = JsonResult(value, err, res.text, attempt + 1, calls[i])
            else:
                still.append(i)
        pending = still
        attempt += 1
    return out  # type: ignore[return-value]
