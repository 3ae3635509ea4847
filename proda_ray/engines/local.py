"""The embedded default engine: llama.cpp in-process (no key, no server, no GPU).

The bundled model is the *base* Gemma 3 270M: it does not follow instructions, so stages send
few-shot completion prompts, and JSON output is constrained by a grammar compiled from the
stage's schema (llama.cpp's GBNF). Grammars are compiled once per schema.
"""

from __future__ import annotations

import json
import os
import time

from proda_ray.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    LocalEngineConfig,
)
from proda_ray.engines.models import bundled_gemma_gguf


class LlamaCppEngine(Engine):
    kind = "local"

    def __init__(self, config: LocalEngineConfig):
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise RuntimeError(
                "the local engine needs llama-cpp-python: pip install 'proda-ray[local]'") from e
        self.config = config
        self.path = config.model_path or str(bundled_gemma_gguf())
        self.llm = Llama(model_path=self.path, n_ctx=config.n_ctx, n_threads=config.n_threads,
                         verbose=False, seed=0)
        self._grammars: dict[str, object] = {}
        self._model_id = f"{os.path.basename(self.path)}:{os.path.getsize(self.path)}"

    @property
    def model_id(self) -> str:
        return self._model_id

    def _grammar(self, schema: dict):
        from llama_cpp import LlamaGrammar

        from proda_ray.engines.structured import grammar_schema

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            # the schema's own key order: properties are generated in the order the few-shot
            # examples show them (a question before its answer, a name before its steps)
            self._grammars[key] = LlamaGrammar.from_json_schema(
                json.dumps(grammar_schema(schema)), verbose=False)
        return self._grammars[key]

    def _choice_grammar(self, choices: tuple[str, ...]):
        from llama_cpp import LlamaGrammar

        from proda_ray.engines.structured import choice_gbnf

        key = json.dumps(["choices", *choices])
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(choice_gbnf(choices), verbose=False)
        return self._grammars[key]

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        return [self._one(r) for r in requests]

    def _one(self, req: GenerationRequest) -> GenerationResult:
        p = req.params
        t0 = time.perf_counter()
        try:
            n_prompt = len(self.llm.tokenize(req.prompt.encode(), add_bos=True))
            if n_prompt + p.max_tokens > self.config.n_ctx:
                return GenerationResult(None, n_prompt, 0, 0.0, error=(
                    f"context_overflow: {n_prompt} prompt + {p.max_tokens} completion tokens "
                    f"> n_ctx {self.config.n_ctx}"))
            out = self.llm.create_completion(
                req.prompt, max_tokens=p.max_tokens, temperature=p.temperature, top_p=p.top_p,
                stop=p.stop or None, seed=p.seed,
                grammar=self._choice_grammar(req.choices) if req.choices
                else self._grammar(req.schema) if req.schema else None)
        except Exception as e:  # a failed call is a result with a reason, never a crash
            return GenerationResult(None, latency_s=time.perf_counter() - t0,
                                    error=f"engine_error: {type(e).__name__}: {e}")
        usage = out.get("usage", {})
        return GenerationResult(
            out["choices"][0]["text"], usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0), time.perf_counter() - t0)
