"""The stage abstraction (DESIGN §2).

A stage is a small typed object: a pydantic config, declared input and output tables,
declared resources, and a ``run`` that reads its inputs from the workspace and writes its
outputs back through a ``StageContext``. Its parallel work goes through ``ctx.map_units``
(units, a ``UnitWorker`` class, ``Resources``) and ``ctx.call``: the executor behind the
context (Ray, or this process) decides where that runs. A stage never knows whether it runs
on a laptop or on 200 nodes, and the runner never knows what a stage does.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel, Field

from proda_ray.workspace.manifest import TableInfo, TokenUsage
from proda_ray.workspace.storage import Workspace

if TYPE_CHECKING:
    from proda_ray.executors.base import Executor, UnitRun, UnitWorker

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


class Resources(BaseModel):
    """What one unit of a stage's work needs; the executor decides placement.

    ``node_kind`` says which kind of node the work is for (``cpu``: corpus and CPU-bound
    steps, ``inference``: LLM engines that want accelerators, ``train``: training workers).
    On a cluster whose nodes advertise their kind (``docs/scale.md``, ``cluster/``) the Ray
    executor turns it into a resource request, so the work lands on that kind and the
    autoscaler grows that group; on a laptop it changes nothing."""

    num_cpus: float = Field(default=1.0, description="CPUs per task or actor.")
    num_gpus: float = Field(default=0.0, description="GPUs per task or actor.")
    max_concurrency: int | None = Field(
        default=None, description="Upper bound on parallel tasks/actors (None: fill the cluster)."
    )
    drives_cluster: bool = Field(
        default=False, description="The worker spreads its own work over the cluster (a vLLM "
        "engine with its replicas): run its units one after another in the driver.")
    node_kind: Literal["cpu", "inference", "train"] = Field(
        default="cpu", description="The kind of node the work belongs on.")
    accelerator_type: str | None = Field(
        default=None, description="A Ray accelerator type the node must have (L4, H100).")
    memory_gb: float | None = Field(
        default=None, gt=0, description="Memory per task or actor (Ray's logical memory).")

    @classmethod
    def for_engine(cls, engine_kind: str, **kw: Any) -> Resources:
        """LLM work: engines that run a model on accelerators (vllm, transformers) belong on
        inference nodes; the embedded CPU engine and HTTP clients on CPU nodes."""
        return cls(node_kind="inference" if engine_kind in ("vllm", "transformers") else "cpu",
                   **kw)


@dataclass
class StageResult:
    """What ``Stage.run`` returns: the runner turns it into the manifest."""

    outputs: dict[str, TableInfo] = field(default_factory=dict)
    counters: Counter = field(default_factory=Counter)
    rejected: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    timings_s: dict[str, float] = field(default_factory=dict)
    usage: TokenUsage = field(default_factory=TokenUsage)  # across the runs of this fingerprint
    run_usage: TokenUsage | None = None  # this run only, where it differs (resumed units)
    report: dict | BaseModel = field(default_factory=dict)

    def add(self, tally, rejected_as: str | None = None) -> None:
        """Fold a ``Tally`` (a ``UnitRun``'s totals) into the counters and rejections;
        ``rejected_as`` files every rejection under that table."""
        for k, v in tally.counters.items():
            self.counters[k] += v
        for table, reasons in tally.rejected.items():
            for reason, v in reasons.items():
                self.rejected[rejected_as or table][reason] += v


@dataclass(frozen=True)
class StageFiles:
    """Where one stage run's files go: what workers get (picklable, no executor inside).

    ``tables/<table>/<fingerprint>/<part>.parquet`` are the run's table versions (immutable);
    ``stages/<name>/runs/<fingerprint>/`` its scratch, which a rerun with the same
    fingerprint resumes from."""

    workspace: Workspace
    stage: str
    fingerprint: str

    @property
    def scratch(self) -> str:
        return posixpath.join("stages", self.stage, "runs", self.fingerprint)

    def scratch_path(self, *parts: str) -> str:
        return posixpath.join(self.scratch, *parts)

    def table_dir(self, table: str) -> str:
        return posixpath.join("tables", table, self.fingerprint)

    def part(self, table: str, key: str) -> str:
        """The path of one part (one unit's rows) of a table this run writes."""
        return posixpath.join(self.table_dir(table), f"{key}.parquet")

    def write_part(self, table: str, key: str, data: pa.Table) -> None:
        self.workspace.write_parquet(self.part(table, key), data)


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
    executor: Executor | None = None  # None: Ray (the runner always sets one)
    resources: Resources = field(default_factory=Resources)  # the stage's declared needs

    @property
    def files(self) -> StageFiles:
        return StageFiles(self.workspace, self.stage, self.fingerprint)

    @property
    def scratch(self) -> str:
        return self.files.scratch

    def table_dir(self, table: str) -> str:
        """Where this run writes a table version (immutable; never overwritten by another)."""
        return self.files.table_dir(table)

    def _executor(self) -> Executor:
        if self.executor is None:
            from proda_ray.executors import RayExecutor

            self.executor = RayExecutor()
        return self.executor

    def map_units(self, phase: str, units: list[dict], worker: type[UnitWorker], *args: Any,
                  resources: Resources | None = None) -> UnitRun:
        """Run ``worker(*args)`` over ``units`` (rows with a ``key``) on the executor; each
        finished unit leaves ``<scratch>/<phase>/<key>.done.json``, so a rerun does only the
        rest. ``resources``: what one worker needs (default: the stage's)."""
        return self._executor().map_units(self.workspace, self.files.scratch_path(phase),
                                          units, worker, args, resources or self.resources)

    def call(self, fn, *args: Any, resources: Resources | None = None) -> Any:
        """Run one step (a module-level function) on the executor; return its result."""
        return self._executor().call(fn, *args, resources=resources or Resources())

    def workers(self, requested: int | None = None) -> int:
        return self._executor().workers(requested)

    @property
    def ray_data(self) -> bool:
        """Whether this run's executor has a Ray cluster for Ray Data operations."""
        return self._executor().ray_data

    def table_info(self, table: str) -> TableInfo:
        rel = self.table_dir(table)
        files = self.workspace.list_files(rel, suffix=".parquet")
        rows = self.workspace.count_rows(rel) if files else 0
        return TableInfo(path=rel, rows=rows, files=len(files))

    def write_table(self, table: str, data: pa.Table, part: str = "part-00000") -> None:
        self.workspace.write_parquet(posixpath.join(self.table_dir(table), f"{part}.parquet"), data)

    def producer_report(self, table: str, model: type[R]) -> R:
        """The typed report of the committed stage that produced ``table`` (e.g. the
        ``TrainReport`` whose model eval and debug read)."""
        from proda_ray.workspace.runner import table_producers

        return model.model_validate(table_producers(self.workspace)[table].report)


class Stage(ABC, Generic[C]):
    """Base class of every stage. Subclasses set the class variables and implement ``run``.

    A stage with ``per_round = True`` (train, eval, debug) has one instance per round of the
    loop: ``round`` n > 1 and a control ``arm`` name it and its tables ``<base>.r<n>[.<arm>]``
    (``rounds.rname``, the one naming scheme); a ``label`` names a reference instance
    (``eval.base``). The name is set here, once, from those declared values.
    """

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    inputs: ClassVar[tuple[str, ...]] = ()  # tables read (produced by upstream stages)
    outputs: ClassVar[tuple[str, ...]] = ()  # tables written (plus their .rejected twins)
    per_round: ClassVar[bool] = False
    # the code version is the source of the stage's module and of its import closure inside
    # proda_ray (``fingerprint.stage_code_version``); list extra modules here (none needed)
    code_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: C, *, round: int = 1, arm: str | None = None,
                 label: str | None = None):
        if (round != 1 or arm) and not self.per_round:
            raise ValueError(f"stage {type(self).name!r} has no rounds")
        self.config = config
        self.round, self.arm, self.label = round, arm, label
        self.name = self.table(type(self).name)  # type: ignore[misc]

    def table(self, base: str, round: int | None = None, arm: str | None = None) -> str:
        """A table (or stage) name of this instance's round (``round``/``arm``: another's)."""
        from proda_ray.rounds import rname

        if self.label and round is None:
            return f"{base}.{self.label}"
        return rname(base, self.round if round is None else round,
                     self.arm if round is None and arm is None else arm)

    def resources(self) -> Resources:
        return Resources()

    def external_inputs(self) -> dict[str, str]:
        """Fingerprints of inputs that live outside the workspace (e.g. corpus files)."""
        return {}

    def check(self) -> None:
        """Cheap checks of the stage's own inputs before a cluster is started for it (the
        corpus paths exist and hold files); raise ValueError/FileNotFoundError with one line.
        """

    @abstractmethod
    def run(self, ctx: StageContext) -> StageResult: ...
