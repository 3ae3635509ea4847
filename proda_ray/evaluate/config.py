"""Configuration of the Test stage (``proda eval``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from proda_ray.configmodel import ConfigModel
from proda_ray.engines.base import EngineConfig


class ScoringConfig(ConfigModel):
    """How a model's answers are obtained; shared by eval and the debugger's probes, so a
    probe and the benchmark score a model alike."""

    scoring: Literal["auto", "generate", "loglikelihood", "cloze"] = Field(
        default="auto", description="generate: the model writes its answer, which is read "
        "(constrained to the answer sets unless constrain is false; free text is read by "
        "whole options, word boundaries, negations; an echoed option list is unparsed); "
        "loglikelihood: each answer set (four letters for single-choice types, else the 15 "
        "sets) is scored by its log-likelihood after the prompt minus that with no question "
        "(lm-evaluation-harness's acc_mutual_info; nothing to parse, so a weak model is "
        "scored on what it prefers, not on whether it follows the format); cloze: "
        "single-choice items without their option list, each option's text scored as the "
        "answer (minus its score after the question's frame with its quoted term or "
        "definition emptied; the option begins the assistant turn as a trained student's "
        "response does): whether the model prefers the right "
        "definition or term at all, for models too small to map options to letters (other "
        "items as loglikelihood). auto: "
        "loglikelihood for models under small_model_params on engines that can score, else "
        "generate.")
    small_model_params: int = Field(default=1_000_000_000, ge=0)
    prompt_format: Literal["plain_chat", "raw", "engine"] = Field(
        default="plain_chat", description="One format for every model compared: plain_chat "
        "wraps every prompt in proda's plain chat template (the one the student is trained "
        "in), base and student alike; raw sends the bare prompt; engine leaves it to the "
        "engine (a served chat endpoint applies its own).")
    constrain: bool = Field(
        default=True, description="generate only: the reply is constrained to the item's "
        "answer sets (four letters, or the 15 sets; vLLM's guided choice, a token trie on "
        "transformers, a grammar on llama.cpp), so a model that does not follow the format "
        "still answers: greedy decoding picks what its first tokens prefer. false: free text, "
        "read by the answer reader; unreadable replies count as wrong.")
    max_tokens: int = Field(default=16, ge=1, description="Answer length cap (letters only "
                            "are asked for; raise it for models that think first).")
    stop: list[str] = Field(default_factory=lambda: ["\nQuestion:", "\n\n"],
                            description="Stop strings (base models go on to invent a next "
                            "question otherwise).")


class EvalConfig(ScoringConfig):
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
    splits: list[str] = Field(default_factory=lambda: ["dev", "test", "transfer", "reference"],
                              description="dev: what the debugger reads; test: unseen items "
                              "on the same nodes; transfer: unseen documents; reference: the "
                              "authors' own exercises (when the corpus has keyed ones), "
                              "scored beside the generated items.")
    bootstrap: int = Field(default=1000, ge=100, description="Bootstrap resamples for CIs.")
    seed: int = 0
    unit_items: int = Field(default=64, ge=1, description="Items per work unit.")
    workers: int | None = Field(default=1, ge=1, description="Engine replicas (each loads "
                                "the model; None: one per CPU).")
    cpus_per_worker: float = Field(default=1, gt=0, description="CPUs each engine replica "
                                   "reserves (its torch threads on a CPU machine: one "
                                   "replica on a 2-core box answers faster with 2).")
    weakest: int = Field(default=15, ge=1, description="Rows of the weakest-nodes table.")
