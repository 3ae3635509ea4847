"""Configuration of the Tester (``proda bench``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proda_ray.configmodel import ConfigModel
from proda_ray.engines.base import EngineConfig, LocalEngineConfig


class BenchConfig(ConfigModel):
    """Benchmark items from the knowledge core (L1 concepts, L2 statements, L3 chains),
    gated, checked for form-only solvability, deduplicated, split into dev (diagnosed),
    test (unseen items on the same nodes) and transfer (unseen documents)."""

    generators: list[Literal["template", "llm"]] = Field(
        default_factory=lambda: ["template"],
        description="template: deterministic reasoning-structure templates (correct by "
        "construction; right for small or absent teachers); llm: items written by the "
        "engine from the chain, kept only if they pass every gate.")
    kinds: list[Literal["definition_match", "term_match", "statement_truth", "step_after",
                        "process_order", "causal_chain", "next_step"]] = Field(
        default_factory=lambda: ["definition_match", "term_match", "statement_truth",
                                 "step_after"],
        description="Template kinds. Closed-book (the stem never shows what decides the "
        "key): definition_match (L1: one per defined concept), term_match (L1: the same "
        "concept the other way, definition -> term), statement_truth (L2: one per "
        "chunk with four usable statements), step_after (L3: per chain). Open-book, kept "
        "for comparison (their stems quote the steps; the validity suite shows them "
        "form-solvable): process_order, causal_chain, next_step.")
    items_per_chain: int = Field(default=2, ge=1, le=10,
                                 description="Chain (L3) items per chain, over the kinds.")
    items_per_section: int = Field(default=3, ge=1, le=10, description="statement_truth "
                                   "items per section, each on four other statements.")
    max_items_per_discipline: int | None = Field(
        default=None, ge=1, description="Per-discipline quota (None: no cap).")
    seed: int = Field(default=0, description="Fixes templates, option order and splits.")
    test_fraction: float = Field(
        default=0.3, gt=0, lt=1, description="Share of the in-domain items of nodes with two "
        "or more items that go to test: unseen items about nodes the debugger can repair "
        "through their dev items (a concept's definition_match and term_match items, a "
        "chain's items). A node with one item stays in dev.")
    transfer_fraction: float = Field(
        default=0.2, ge=0, lt=1, description="Share of source groups (documents, split_by) "
        "held out whole as split 'transfer': never diagnosed, sharing no sentence with the "
        "rest, measuring whether a repair generalises or regresses. 0: no transfer split; "
        "a corpus with fewer than 2/transfer_fraction groups holds none out.")
    split_by: Literal["chunk", "document"] = Field(
        default="document", description="The unit the transfer split holds out whole.")
    min_question_words: int = Field(default=8, description="A closed-book stem is short: "
                                    "it names what is asked, not the facts.")
    max_question_words: int = 100
    length_tolerance: float = Field(default=0.2, gt=0, le=1,
                                    description="Options within ±this of their mean length.")
    answerability: Literal["auto", "rules", "engine", "off"] = Field(
        default="auto", description="Who answers each item from its chain alone (a key it "
        "contradicts rejects the item): rules re-derive template keys from the chain's "
        "facts; engine asks the LLM; auto = rules for template items, engine for llm ones.")
    validity: Literal["report", "enforce"] = Field(
        default="enforce", description="The adversarial validity suite (solvers that read only "
        "stems and options) runs on every benchmark; its table goes into the manifest. "
        "enforce: a question type whose best solver beats the answer-pattern prior by more "
        "than validity_margin is not shipped (form_solvable_type), nor is an item the "
        "solvers answer with certainty (form_solvable).")
    validity_margin: float = Field(default=0.05, ge=0, le=1)
    reference_items: bool = Field(
        default=True, description="Harvest the authors' own keyed multiple-choice exercises "
        "(a question, options 1-4, 'Solution: X') from the documents into split 'reference': "
        "every model is scored on them beside the generated benchmark.")
    engine: EngineConfig = Field(default_factory=LocalEngineConfig)
    temperature: float = Field(default=0.3, ge=0)
    max_tokens: int = Field(default=900, ge=64)
    retries: int = Field(default=2, ge=0)
    unit_chunks: int = Field(default=64, ge=1, description="Source chunks per work unit "
                             "(whole documents; resumption, parallelism).")
