"""Configuration of the Debugger (``proda debug``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from proda_ray.builder.config import DecontamConfig
from proda_ray.engines.base import EngineConfig


class DebugConfig(BaseModel):
    """Failures on ``dev`` -> nodes -> diagnosis -> grounded patches -> the next dataset."""

    probe: bool = Field(default=True, description="Probe the model on the failed items' "
                        "L1/L2 nodes to tell concept gaps from chain breaks (off: every "
                        "failure is 'unknown' and gets knowledge-injection patches).")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="Probe accuracy below which "
                             "a failure is a concept gap.")
    engine: EngineConfig | None = Field(
        default=None, description="How to run the probed model (None: transformers on the "
        "round's trained model, as eval does).")
    max_failed_items: int = Field(default=300, ge=1, description="Failed dev items diagnosed "
                                  "(the most failure-dense disciplines first).")
    patch_budget: int = Field(default=400, ge=1, description="Patch samples in all, shared "
                              "across disciplines in proportion to their dev failures.")
    per_item: int = Field(default=12, ge=1, description="Patch samples per failed item, at most.")
    replay_ratio: float | None = Field(
        default=None, gt=0, le=1, description="Patch share of the next dataset (the paper's "
        "studio: 0.35); None replays every previous sample whose statements the patches do "
        "not touch.")
    seed: int = 0
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    max_tokens: int = Field(default=16, ge=1)
    stop: list[str] = Field(default_factory=lambda: ["\nQuestion:", "\n\n"])
    workers: int | None = Field(default=1, ge=1)
