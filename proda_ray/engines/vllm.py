"""vLLM through ``ray.data.llm`` on GPU clusters: the early refusal without GPUs.

Platform note: a ``vLLMEngineProcessorConfig`` stage on a cluster without GPUs waits for
``{'GPU': 1}`` forever instead of failing. Stages that use the vllm engine call
``check_vllm_cluster`` first and refuse at once with a clear message.
"""

from __future__ import annotations

from proda_ray.engines.base import VLLMEngineConfig


class NoGPUError(RuntimeError):
    pass


def check_vllm_cluster(cfg: VLLMEngineConfig) -> None:
    import ray

    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    if gpus < cfg.tensor_parallel_size and not cfg.allow_cpu:
        raise NoGPUError(
            f"engine 'vllm' needs {cfg.tensor_parallel_size} GPU(s) per replica but the Ray "
            f"cluster has {gpus:g}. Use --engine local (CPU, embedded model) or --engine "
            "openai (any OpenAI-compatible server), or attach to a GPU cluster with --address."
        )
    raise NotImplementedError(
        "the vllm batch path (ray.data.llm) is not wired into extraction yet; serve the model "
        "with `vllm serve` and use --engine openai meanwhile")
