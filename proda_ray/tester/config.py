"""Configuration of the Tester (``proda bench``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from proda_ray.engines.base import EngineConfig, LocalEngineConfig


class BenchConfig(BaseModel):
    """Benchmark items from L3 chains, gated, deduplicated, split into dev and test."""

    generators: list[Literal["template", "llm"]] = Field(
        default_factory=lambda: ["template"],
        description="template: deterministic reasoning-structure templates (correct by "
        "construction; right for small or absent teachers); llm: items written by the "
        "engine from the chain, kept only if they pass every gate.")
    kinds: list[Literal["process_order", "causal_chain", "next_step"]] = Field(
        default_factory=lambda: ["process_order", "causal_chain", "next_step"],
        description="Template kinds, in priority order.")
    items_per_chain: int = Field(default=2, ge=1, le=10)
    max_items_per_discipline: int | None = Field(
        default=None, ge=1, description="Per-discipline quota (None: no cap).")
    seed: int = Field(default=0, description="Fixes templates, option order and splits.")
    test_fraction: float = Field(default=0.3, gt=0, lt=1,
                                 description="Share of source groups in the test split.")
    split_by: Literal["chunk", "document"] = Field(
        default="chunk", description="Items of one source chunk (or document) never straddle "
        "dev and test; a chain lives in one chunk, so chains never straddle either.")
    min_question_words: int = 40
    max_question_words: int = 100
    length_tolerance: float = Field(default=0.2, gt=0, le=1,
                                    description="Options within ±this of their mean length.")
    answerability: Literal["auto", "rules", "engine", "off"] = Field(
        default="auto", description="Who answers each item from its chain alone (a key it "
        "contradicts rejects the item): rules re-derive template keys from the chain's "
        "facts; engine asks the LLM; auto = rules for template items, engine for llm ones.")
    validity: Literal["report", "enforce"] = Field(
        default="report", description="The adversarial validity suite (solvers that read only "
        "stems and options) runs on every benchmark; its table goes into the manifest. "
        "enforce: a question type whose best solver beats the answer-pattern prior by more "
        "than validity_margin is not shipped (form_solvable_type), nor is an item the "
        "solvers answer with certainty (form_solvable).")
    validity_margin: float = Field(default=0.05, ge=0, le=1)
    engine: EngineConfig = Field(default_factory=LocalEngineConfig)
    temperature: float = Field(default=0.3, ge=0)
    max_tokens: int = Field(default=900, ge=64)
    retries: int = Field(default=2, ge=0)
    unit_chains: int = Field(default=64, ge=1,
                             description="Chains per work unit (resumption, parallelism).")
