"""Any OpenAI-compatible endpoint (vLLM serve, SGLang, llama.cpp server, hosted APIs).

Async HTTP with a per-worker concurrency limit, an optional rate limit, retries with jittered
exponential backoff on connection errors, timeouts, 429 and 5xx (honouring ``Retry-After``),
and a per-request timeout. The API key is read from an environment variable at call time and
never stored, logged or cached. Constrained JSON is requested when the server supports it and
the output is validated either way (``generate_json``).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import aiohttp

from proda_ray.engines.base import (
    Engine,
    EngineUnavailable,
    GenerationRequest,
    GenerationResult,
    OpenAIEngineConfig,
    SamplingParams,
)
from proda_ray.engines.structured import choice_gbnf

_RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}


class _RateLimiter:
    def __init__(self, per_s: float | None):
        self.interval = 1.0 / per_s if per_s else 0.0
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            delay = self.next_at - now
            self.next_at = max(now, self.next_at) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class OpenAIEngine(Engine):
    kind = "openai"

    def __init__(self, config: OpenAIEngineConfig):
        self.cfg = config
        self._failing = 0  # requests in a row that failed to reach the model (the breaker)
        self._last_failure = ""

    @property
    def model_id(self) -> str:
        # the served model's name: give distinct models distinct names on your servers
        return self.cfg.model

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _payload(self, req: GenerationRequest) -> dict:
        p = req.params
        body: dict = {"model": self.cfg.model, "max_tokens": p.max_tokens,
                      "temperature": p.temperature, "top_p": p.top_p, "seed": p.seed}
        if p.stop:
            body["stop"] = p.stop
        if self.cfg.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": req.prompt}]
        else:
            body["prompt"] = req.prompt
        if req.schema is not None and self.cfg.schema_mode == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "output", "schema": req.schema, "strict": True}}
        if req.choices and self.cfg.schema_mode == "llama_cpp":  # a grammar of the choices
            body["grammar"] = choice_gbnf(req.choices)
        elif req.choices and self.cfg.guided_choice:  # vLLM serve's guided choice
            body["structured_outputs"] = {"choice": list(req.choices)}
        elif req.schema is not None and self.cfg.schema_mode == "llama_cpp":
            if self.cfg.endpoint == "chat":
                body["response_format"] = {"type": "json_object", "schema": req.schema}
            else:  # llama.cpp's /v1/completions takes a GBNF grammar instead
                body["grammar"] = _gbnf(req.schema)
        return body

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        return _sync(self._run(requests))

    def preflight(self) -> None:
        """Raise ``EngineUnavailable`` with the cause, unless the server lists its models
        (or has no such route) and answers a 1-token request, within
        ``preflight_timeout_s`` each."""
        _sync(self._preflight())

    def _where(self) -> str:
        return f"engine 'openai' at {self.cfg.base_url}"

    def _refused(self, status: int, body: str) -> str:
        key = self.cfg.api_key_env
        if status in (401, 403) and key:
            why = (f"${key} is not set" if not os.environ.get(key)
                   else f"the key in ${key} was refused")
            return f"{self._where()} refused the request (HTTP {status}): {why}"
        if status == 404:
            return (f"{self._where()}: HTTP 404 for model {self.cfg.model!r} (is the model "
                    f"name served, and does base_url end in /v1?): {body[:200]}")
        return f"{self._where()}: HTTP {status}: {body[:200]}"

    async def _preflight(self) -> None:
        base = self.cfg.base_url.rstrip("/")
        t = self.cfg.preflight_timeout_s
        timeout = aiohttp.ClientTimeout(total=t)
        probe = GenerationRequest("Hello", _one_token())
        path = "chat/completions" if self.cfg.endpoint == "chat" else "completions"
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers()) as s:
            for method, url, payload in (("GET", f"{base}/models", None),
                                         ("POST", f"{base}/{path}", self._payload(probe))):
                try:
                    async with s.request(method, url, json=payload) as resp:
                        status, body = resp.status, await resp.text()
                except TimeoutError:
                    raise EngineUnavailable(f"{self._where()} gave no reply to {method} "
                                            f"{url.removeprefix(base)} within {t:g} s "
                                            "(preflight_timeout_s)") from None
                except aiohttp.ClientError as e:
                    raise EngineUnavailable(f"{self._where()} cannot be reached: "
                                            f"{type(e).__name__}: {e}") from None
                if status == 404 and method == "GET":
                    continue  # a server without /models
                if status != 200:
                    raise EngineUnavailable(self._refused(status, body))

    async def _run(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        sem = asyncio.Semaphore(self.cfg.concurrency)
        limiter = _RateLimiter(self.cfg.requests_per_s)
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers()) as session:
            return list(await asyncio.gather(
                *(self._one(session, sem, limiter, r) for r in requests)))

    async def _one(self, session: aiohttp.ClientSession, sem: asyncio.Semaphore,
                   limiter: _RateLimiter, req: GenerationRequest) -> GenerationResult:
        path = "chat/completions" if self.cfg.endpoint == "chat" else "completions"
        url = f"{self.cfg.base_url.rstrip('/')}/{path}"
        payload = self._payload(req)
        error = "engine_error: not attempted"
        for attempt in range(self.cfg.max_retries + 1):
            retry_after = None
            async with sem:
                await limiter.wait()
                t0 = time.perf_counter()
                try:
                    async with session.post(url, json=payload) as resp:
                        status = resp.status
                        body = await resp.json(content_type=None) if status == 200 \
                            else await resp.text()
                        retry_after = resp.headers.get("Retry-After")
                except TimeoutError:
                    status, body = None, None
                    error = f"timeout: no reply within {self.cfg.timeout_s:g} s"
                except (aiohttp.ClientError, ValueError) as e:
                    status, body = None, None
                    error = f"connection_error: {type(e).__name__}: {e}"
                latency = time.perf_counter() - t0
            if status == 200 and isinstance(body, dict):
                self._failing = 0
                return _result(body, latency, attempt + 1)
            if status is not None:
                error = f"http_{status}: {str(body)[:300]}"
                if status not in _RETRYABLE:
                    if status in (401, 403, 404):
                        self._trip(self._refused(status, str(body)))
                    return GenerationResult(None, latency_s=latency, error=error,
                                            attempts=attempt + 1)
            if attempt < self.cfg.max_retries:
                await asyncio.sleep(_backoff(self.cfg.backoff_s, attempt, retry_after))
        if error.startswith(("connection_error", "timeout")):
            self._trip(f"{self._where()}: {error}")
        return GenerationResult(None, error=error, attempts=self.cfg.max_retries + 1)

    def _trip(self, why: str) -> None:
        """One more request that could not reach the model; the breaker opens at
        ``max_consecutive_failures`` in a row (a success closes it)."""
        self._failing += 1
        if self._failing >= self.cfg.max_consecutive_failures:
            raise EngineUnavailable(f"{self._failing} requests in a row failed; last: {why}")


def _sync(coro):
    """Run a coroutine to its end from sync code (in a thread when a loop is running, e.g.
    inside an async actor); its exception, if any, is raised here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: list = []

    def target() -> None:
        try:
            box.append((True, asyncio.run(coro)))
        except BaseException as e:  # re-raised in the caller's thread
            box.append((False, e))

    t = threading.Thread(target=target)
    t.start()
    t.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value


def _one_token() -> SamplingParams:
    return SamplingParams(max_tokens=1, temperature=0.0)


def _gbnf(schema: dict) -> str:
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from proda_ray.engines.structured import grammar_schema

    return json_schema_to_gbnf(json.dumps(grammar_schema(schema)))


def _backoff(base: float, attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(60.0, float(retry_after))
        except ValueError:
            pass
    return min(30.0, base * 2**attempt) * random.uniform(0.5, 1.5)


def _result(body: dict, latency: float, attempts: int) -> GenerationResult:
    try:
        choice = body["choices"][0]
        text = choice.get("text")
        if text is None:
            text = (choice.get("message") or {}).get("content")
    except (KeyError, IndexError, TypeError):
        return GenerationResult(None, latency_s=latency, attempts=attempts,
                                error=f"bad_response: no choices in {str(body)[:200]}")
    usage = body.get("usage") or {}
    return GenerationResult(text, usage.get("prompt_tokens", 0),
                            usage.get("completion_tokens", 0), latency, attempts=attempts)
