"""A persistent LLM response cache: reruns and resumed runs re-spend no tokens.

Key = sha256 of (engine kind, model id, prompt, sampling params, schema, choices). Entries
are small JSON files in the workspace (``cache/llm/<2 hex>/<key>.json``), written
atomically, so any worker on any node can read what another wrote, and a killed run loses at
most the calls in flight. Failed calls are never cached: a rerun retries them.
"""

from __future__ import annotations

import hashlib
import json

from proda_ray.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    ScoringRequest,
    Usage,
)
from proda_ray.workspace.storage import Workspace


class ResponseCache:
    def __init__(self, ws: Workspace, prefix: str = "cache/llm"):
        self.ws = ws
        self.prefix = prefix

    @staticmethod
    def key(kind: str, model_id: str, req: GenerationRequest) -> str:
        body = {"engine": kind, "model": model_id, "prompt": req.prompt,
                "params": req.params.model_dump(mode="json"), "schema": req.schema}
        if req.choices is not None:  # absent otherwise: older entries keep their keys
            body["choices"] = list(req.choices)
        payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    @staticmethod
    def scoring_key(kind: str, model_id: str, req: ScoringRequest) -> str:
        payload = json.dumps({"engine": kind, "model": model_id, "op": "loglikelihood",
                              "context": req.context, "continuations": list(req.continuations)},
                             sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    def _rel(self, key: str) -> str:
        return f"{self.prefix}/{key[:2]}/{key}.json"

    def get(self, key: str) -> GenerationResult | None:
        try:
            d = json.loads(self.ws.read_bytes(self._rel(key)))
        except (FileNotFoundError, OSError, ValueError):
            return None
        return GenerationResult(text=d["text"], prompt_tokens=d["prompt_tokens"],
                                completion_tokens=d["completion_tokens"],
                                latency_s=d["latency_s"], cached=True)

    def put(self, key: str, r: GenerationResult) -> None:
        self.ws.write_json(self._rel(key), {
            "text": r.text, "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens, "latency_s": round(r.latency_s, 4)})


class CachedEngine(Engine):
    """Any engine behind the response cache, with usage accounting."""

    def __init__(self, engine: Engine, cache: ResponseCache | None):
        self.engine = engine
        self.cache = cache
        self.kind = engine.kind
        self.usage = Usage()

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        return self._through_cache(
            [ResponseCache.key(self.kind, self.model_id, r) for r in requests], requests,
            self.engine.generate)

    def loglikelihood(self, requests: list[ScoringRequest]) -> list[GenerationResult]:
        return self._through_cache(
            [ResponseCache.scoring_key(self.kind, self.model_id, r) for r in requests],
            requests, self.engine.loglikelihood)

    def _through_cache(self, keys: list[str], requests: list, call) -> list[GenerationResult]:
        """Cached results where there are, ``call`` on the rest (successes cached), usage
        counted for all."""
        out: list[GenerationResult | None] = [
            self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, r in enumerate(out) if r is None]
        if todo:
            fresh = call([requests[i] for i in todo])
            for i, r in zip(todo, fresh, strict=True):
                out[i] = r
                if self.cache and r.ok:
                    self.cache.put(keys[i], r)
        for r in out:
            self.usage.add(r)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.engine.close()
