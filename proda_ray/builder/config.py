"""Configuration of the Builder (``proda build``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from proda_ray.configmodel import ConfigModel
from proda_ray.engines.base import EngineConfig, LocalEngineConfig


class DecontamConfig(ConfigModel):
    """Training rows that share item-specific text with any benchmark item are dropped
    (with the reason)."""

    scope: Literal["item_specific", "all"] = Field(
        default="item_specific", description="item_specific: what is specific to an item "
        "counts (its framing, written distractors, explanation, pairing), not the corpus "
        "sentences items and facts both quote (runs of mask_words or more words found in the "
        "knowledge core's node texts); all: every word of every item field counts (drops the "
        "rows that teach the knowledge an item asks about).")
    mask_words: int = Field(default=8, ge=4, description="A span of an item this long that "
                            "the knowledge core contains is the corpus', not the item's.")
    ngram: int = Field(default=13, ge=4, description="Shared word n-gram length that flags.")
    embedding_threshold: float | None = Field(
        default=0.92, ge=0, le=1, description="MiniLM cosine to an item's question, options "
        "or explanation that flags (None: n-grams only).")


class BuildConfig(ConfigModel):
    """SFT samples from L1/L2: open QA, single choice, multi-select, true/false."""

    dataset: str = Field(default="sft_v1", description="Name of the produced dataset.")
    generators: list[Literal["template", "llm"]] = Field(
        default_factory=lambda: ["template"],
        description="template: deterministic, grounded in the knowledge core; llm: written "
        "by the engine from windows of statements + related concepts.")
    samples_per_statement: float = Field(default=2.0, gt=0,
                                         description="Target samples per L2 statement.")
    ratios: dict[Literal["qa", "single_choice", "multi_choice", "true_false"], float] = Field(
        default_factory=lambda: {"qa": 0.4, "single_choice": 0.2, "multi_choice": 0.15,
                                 "true_false": 0.25})
    true_ratio: float = Field(default=0.5, ge=0, le=1,
                              description="Share of true claims among true/false samples.")
    window: int = Field(default=8, ge=1, description="L2 statements per LLM window.")
    max_concepts_per_window: int = Field(default=20, ge=1)
    seed: int = 0
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    engine: EngineConfig = Field(default_factory=LocalEngineConfig)
    temperature: float = Field(default=0.5, ge=0)
    max_tokens: int = Field(default=700, ge=64)
    retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _ratios(self):
        total = sum(self.ratios.values())
        if total <= 0:
            raise ValueError("build.ratios must not all be zero")
        self.ratios = {k: v / total for k, v in self.ratios.items()}
        return self
