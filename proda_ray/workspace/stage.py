"""The stage abstraction (DESIGN §2).

A stage is a small typed object: a pydantic config, declared input and output tables,
declared resources, and a ``run`` that reads its inputs from the workspace and writes its
outputs back through a ``StageContext``. A stage never knows whether it runs on a laptop or on
200 nodes, and the runner never knows what a stage does.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel, Field

from proda_ray.workspace.manifest import TableInfo, TokenUsage
from proda_ray.workspace.storage import Workspace

C = TypeVar("C", bound=BaseModel)


class Resources(BaseModel):
    """What one unit of a stage's work needs; the executor decides placement."""

    num_cpus: float = Field(default=1.0, description="CPUs per task or actor.")
    num_gpus: float = Field(default=0.0, description="GPUs per task or actor.")
    max_concurrency: int | None = Field(
        default=None, description="Upper bound on parallel tasks/actors (None: fill the cluster)."
    )


@dataclass
class StageResult:
    """What ``Stage.run`` returns: the runner turns it into the manifest."""

    outputs: dict[str, TableInfo] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)
    rejected: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    timings_s: dict[str, float] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)
    report: dict = field(default_factory=dict)


@dataclass
class StageContext:
    """Where a running stage reads and writes.

    ``scratch`` is the run's own directory (``stages/<name>/runs/<fingerprint>``): shards
    written there survive a crash, so a rerun with the same fingerprint resumes from them.
    """

    workspace: Workspace
    stage: str
    fingerprint: str
    show_progress: bool = True
    inputs: dict[str, TableInfo] = field(default_factory=dict)  # input table -> its version

    @property
    def scratch(self) -> str:
        return posixpath.join("stages", self.stage, "runs", self.fingerprint)

    def table_dir(self, table: str) -> str:
        """Where this run writes a table version (immutable; never overwritten by another)."""
        return posixpath.join("tables", table, self.fingerprint)

    def table_info(self, table: str) -> TableInfo:
        rel = self.table_dir(table)
        files = self.workspace.list_files(rel, suffix=".parquet")
        rows = self.workspace.count_rows(rel) if files else 0
        return TableInfo(path=rel, rows=rows, files=len(files))

    def write_table(self, table: str, data: pa.Table, part: str = "part-00000") -> None:
        self.workspace.write_parquet(posixpath.join(self.table_dir(table), f"{part}.parquet"), data)

    def producer_report(self, table: str) -> dict:
        """The report of the committed stage that produced ``table`` (e.g. the model a train
        stage exported, read by eval and debug)."""
        from proda_ray.workspace.runner import table_producers

        return table_producers(self.workspace)[table].report


class Stage(ABC, Generic[C]):
    """Base class of every stage. Subclasses set the class variables and implement ``run``."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    inputs: ClassVar[tuple[str, ...]] = ()  # tables read (produced by upstream stages)
    outputs: ClassVar[tuple[str, ...]] = ()  # tables written (plus their .rejected twins)
    code_modules: ClassVar[tuple[str, ...]] = ()  # modules whose source is the code version

    def __init__(self, config: C):
        self.config = config

    def resources(self) -> Resources:
        return Resources()

    def external_inputs(self) -> dict[str, str]:
        """Fingerprints of inputs that live outside the workspace (e.g. corpus files)."""
        return {}

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult: ...
