"""Configuration of the knowledge stages (extract, merge)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proda_ray.configmodel import ConfigModel
from proda_ray.engines.base import EngineConfig, LocalEngineConfig


class ExtractConfig(ConfigModel):
    """Top-down extraction per chunk: L3 chains -> L2 statements -> L1 concept mentions."""

    engine: EngineConfig = Field(default_factory=LocalEngineConfig)
    mode: Literal["auto", "extractive", "abstractive"] = Field(
        default="auto",
        description="extractive: steps are the chunk's sentences, subjects/objects phrases of "
        "the linked steps, concept terms the statements' subjects/objects (what a small base "
        "model can do reliably); abstractive: free text, grounded afterwards (for capable "
        "models). auto: extractive for the local engine, abstractive otherwise.",
    )
    levels: list[Literal["l3", "l2", "l1"]] = Field(
        default=["l3", "l2", "l1"], min_length=1,
        description="Which levels to extract: l3 chains, l2 statements, l1 concepts (e.g. "
        "only l3 to survey a corpus's processes cheaply).",
    )
    max_chains_per_chunk: int = Field(default=2, ge=1, le=8)
    min_steps: int = Field(default=3, ge=2)
    max_steps: int = Field(default=6, ge=3)
    max_concepts_per_chain: int = Field(default=10, ge=1)
    temperature: float = Field(default=0.2, ge=0)
    seed: int = Field(default=0, description="Sampling seed (a retry uses seed+attempt).")
    max_tokens_l3: int = Field(default=700, ge=64)
    max_tokens_l2: int = Field(default=600, ge=64)
    max_tokens_l1: int = Field(default=600, ge=64)
    retries: int = Field(default=2, ge=0, description="Re-asks after invalid/failed output.")
    min_step_support: float = Field(
        default=0.5, ge=0, le=1,
        description="A chain is kept only if, on average, this share of each step's content "
        "words occurs in the chunk (catches chains copied from the prompt's examples).",
    )
    constrain_quotes: bool = Field(
        default=True, description="Constrain source_quote to the chunk's own sentences."
    )
    limit: int | None = Field(
        default=None, description="Extract at most this many chunks (spread across disciplines)."
    )
    disciplines: list[str] | None = Field(
        default=None, description="Only chunks of these discipline codes or names."
    )
    unit_chunks: int | None = Field(
        default=None, ge=1, description="Chunks per work unit (the unit of resumption and of "
        "parallelism). None: 2 for per-request engines; 512 for vllm, whose every call "
        "starts its engine replicas and wants large batches."
    )

    def chunks_per_unit(self) -> int:
        return self.unit_chunks or (512 if self.engine.kind == "vllm" else 2)

    def extractive(self) -> bool:
        return self.mode == "extractive" or (self.mode == "auto" and self.engine.kind == "local")


class MergeConfig(ConfigModel):
    """Canonicalization of concepts across chunks."""

    similarity_threshold: float = Field(
        default=0.92, ge=0, le=1,
        description="Concepts whose normalized terms embed at least this close (MiniLM "
        "cosine) are merged; 1.0 merges only identical normalized terms.",
    )
