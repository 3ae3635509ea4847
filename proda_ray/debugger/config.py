"""Configuration of the Debugger (``proda debug``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proda_ray.builder.config import DecontamConfig
from proda_ray.engines.base import EngineConfig, LocalEngineConfig
from proda_ray.evaluate.config import ScoringConfig


class DebugConfig(ScoringConfig):
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
    generators: list[Literal["template", "llm"]] = Field(
        default_factory=lambda: ["template"],
        description="template: facts with quotes, contrasts, definitions, step scaffolds "
        "(grounded by construction); llm: the teacher engine also writes questions from "
        "each implicated fact and its definitions (the Builder's generator and gates).")
    teacher: EngineConfig = Field(default_factory=LocalEngineConfig,
                                  description="The engine that writes llm patches.")
    teacher_tasks: list[Literal["qa", "single_choice", "multi_choice", "true_false"]] = Field(
        default_factory=lambda: ["qa", "single_choice", "true_false"],
        description="Task types of llm patches, cycled over the facts.")
    temperature: float = Field(default=0.5, ge=0)
    teacher_max_tokens: int = Field(default=700, ge=64)
    retries: int = Field(default=2, ge=0)
    blind_control: bool = Field(
        default=True, description="Also write the control dataset sft_v{n+1}_blind: as many "
        "samples as the kept patches, made by the same templates from nodes drawn at random "
        "from the whole knowledge core (no diagnosis), plus the same replay. The loop trains "
        "and evaluates it beside the targeted round, so the report shows targeted - blind.")
    seed: int = 0
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    workers: int | None = Field(default=1, ge=1)
