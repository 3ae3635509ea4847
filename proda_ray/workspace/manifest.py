"""The JSON manifest a stage run writes: what it consumed, what it produced, what it dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, Field

R = TypeVar("R", bound=BaseModel)


class TableInfo(BaseModel):
    """One output table version."""

    path: str = Field(description="Directory of the table's Parquet parts, relative to the root.")
    rows: int = Field(description="Row count.")
    files: int = Field(default=0, description="Number of Parquet part files.")


class TokenUsage(BaseModel):
    """LLM usage of a stage (zero for stages that call no model): what a run cost."""

    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    def add(self, r) -> None:
        """Count one engine result (``cached``, ``ok``, token counts, ``latency_s``)."""
        if r.cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.failed_calls += 0 if r.ok else 1
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.latency_s += r.latency_s

    def merge(self, other: TokenUsage | dict) -> None:
        d = other if isinstance(other, dict) else other.model_dump()
        for k, v in d.items():
            setattr(self, k, getattr(self, k) + v)


class StageManifest(BaseModel):
    """Written last by a stage run: its presence commits the run."""

    stage: str
    fingerprint: str
    code_version: str
    proda_version: str
    config: dict
    inputs: dict[str, str] = Field(description="Input name -> fingerprint it was built from.")
    outputs: dict[str, TableInfo] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Rejected table -> reason -> count."
    )
    timings_s: dict[str, float] = Field(default_factory=dict)
    usage: TokenUsage = Field(
        default_factory=TokenUsage, description="LLM calls behind the outputs, across an "
        "interrupted run and its resumption.")
    run_usage: TokenUsage = Field(
        default_factory=TokenUsage, description="LLM calls the committing run made itself "
        "(less than usage when it reused an interrupted run's units).")
    report: dict = Field(default_factory=dict, description="Stage-specific report (e.g. dedup).")
    cluster: dict = Field(default_factory=dict, description="Ray nodes/CPUs/GPUs used.")
    started_at: str = ""
    finished_at: str = ""

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")

    def typed_report(self, model: type[R]) -> R:
        """The report as ``model`` (e.g. ``contracts.EvalReport``): validated, typed."""
        return model.model_validate(self.report)

    def rejected_total(self) -> int:
        return sum(sum(reasons.values()) for reasons in self.rejected.values())
