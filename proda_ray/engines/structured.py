"""Structured output: parse, validate against the schema, retry, or fail with a reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

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


def grammar_schema(schema: dict, max_len: int = 300, max_min_len: int = 16) -> dict:
    """The schema as a grammar-based decoder should see it: string length bounds capped.

    llama.cpp expands ``minLength``/``maxLength`` into nested repetition rules; long bounds
    (hundreds of characters, several fields) exceed its parser's limits and crash the
    process. Capped bounds keep the grammar small; the full schema still validates the
    output afterwards, so nothing out of bounds is accepted."""
    if isinstance(schema, list):
        return [grammar_schema(x, max_len, max_min_len) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: grammar_schema(v, max_len, max_min_len) for k, v in schema.items()}
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        if out.get("maxLength", 0) > max_len:
            out["maxLength"] = max_len
        if out.get("minLength", 0) > max_min_len:
            out["minLength"] = max_min_len
    return out


def choice_gbnf(choices) -> str:
    """A GBNF grammar whose only sentences are ``choices`` (llama.cpp, in process or served)."""
    return "root ::= " + " | ".join(json.dumps(c) for c in choices)


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
                r = replace(r, params=r.params.model_copy(
                    update={"seed": r.params.seed + attempt}))
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
