"""Configuration of the Test stage (``proda eval``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from proda_ray.engines.base import EngineConfig


class EvalConfig(BaseModel):
    """Answer every benchmark item with a model; score, tabulate, compare rounds."""

    model: str = Field(
        default="trained", description="trained: the model the round's train stage exported; "
        "base: that training run's base (the untrained reference); or a model directory/URI; "
        "or 'engine' to evaluate whatever the engine below serves (an OpenAI endpoint).")
    engine: EngineConfig | None = Field(
        default=None, description="How to run the model (None: transformers on the model "
        "directory; set kind: vllm on GPU clusters, kind: openai for a served model).")
    adapter: bool = Field(default=False, description="For LoRA runs: evaluate the base with "
                          "the adapter applied (unmerged) instead of the merged export "
                          "(transformers engine; the answers should agree).")
    splits: list[str] = Field(default_factory=lambda: ["dev", "test"])
    max_tokens: int = Field(default=16, ge=1, description="Answer length cap (letters only "
                            "are asked for; raise it for models that think first).")
    stop: list[str] = Field(default_factory=lambda: ["\nQuestion:", "\n\n"],
                            description="Stop strings (base models go on to invent a next "
                            "question otherwise).")
    bootstrap: int = Field(default=1000, ge=100, description="Bootstrap resamples for CIs.")
    seed: int = 0
    unit_items: int = Field(default=64, ge=1, description="Items per work unit.")
    workers: int | None = Field(default=1, ge=1, description="Engine replicas (each loads "
                                "the model; None: one per CPU).")
    weakest: int = Field(default=15, ge=1, description="Rows of the weakest-nodes table.")
