"""The reports one stage reads from another, typed.

A stage's report is stored in its manifest as JSON. The ones other stages (and the loop)
depend on are these models: a stage writes one, a reader gets it back through
``StageContext.producer_report(table, Model)`` or ``StageManifest.typed_report(Model)``, so a
renamed or missing field fails loudly at the reader instead of reading as ``None``. Fields a
reader does not depend on ride along (``extra="allow"``); manifests are unchanged.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Report(BaseModel):
    model_config = ConfigDict(extra="allow")


class TrainReport(Report):
    """What ``train`` exported: read by eval (the model, its base), debug (the model it
    probes) and the next round's train (the shared base)."""

    model: str  # the exported (merged) model: <workspace>/models/<fingerprint>/model
    base: str
    base_dir: str  # the base model's directory (the untrained reference)
    method: str  # full | lora
    dataset: str
    round: int
    first_loss: float | None = None
    last_loss: float | None = None
    last_val_loss: float | None = None
    tokens_per_s: float | None = None

    @property
    def adapter(self) -> str:
        """The LoRA adapter beside the merged model (``method == "lora"``)."""
        return self.model.rsplit("/", 1)[0] + "/adapter"


class SplitSummary(Report):
    items: int
    accuracy: float
    ci: list[float] | None = None


class EvalReport(Report):
    """What ``eval`` measured: the loop reads ``overall["dev"]`` to decide on a repair.
    Required: what readers depend on."""

    overall: dict[str, SplitSummary]
    model: str | None = None
    engine: str | None = None
    round: int = 1
    label: str | None = None
    arm: str | None = None

    def dev(self) -> SplitSummary | None:
        return self.overall.get("dev")


class DebugReport(Report):
    """What ``debug`` did: the next dataset and how it was made."""

    round: int
    dataset: str
    dev_items: int
    failed: int
    labels: dict[str, int]
    replay: int
