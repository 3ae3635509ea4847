"""The executor contract, and what every executor shares: done markers and their sums."""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from proda_ray.workspace.stage import Resources
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally


class UnitWorker(ABC):
    """Does a stage's work one unit at a time.

    ``setup`` runs once per worker (load a model, a tokenizer, a lookup table); ``process``
    does one unit — writes its outputs through the workspace — and returns its ``Tally``,
    which the executor commits as the unit's done marker. ``holds_state = False`` says the
    worker keeps nothing worth reusing (an executor may then build one per unit, as a task).
    """

    holds_state: ClassVar[bool] = True

    def __init__(self, *args: Any) -> None:
        self.setup(*args)

    def setup(self, *args: Any) -> None:  # noqa: B027 - optional hook
        """Once per worker, with the arguments the stage passed to ``map_units``."""

    @abstractmethod
    def process(self, unit: dict) -> Tally: ...


@dataclass
class UnitRun:
    totals: Tally  # every unit's tally, summed (units finished earlier included)
    ran: list[str]  # keys of the units this call executed
    ran_totals: Tally  # the tallies of those units only

    @property
    def counters(self) -> dict[str, int]:
        return self.totals.counters

    @property
    def usage(self):
        """LLM usage of every unit, whichever run did it: the calls the stage's output cost
        across an interrupted run and its resumption (a call of a unit that was killed before
        its marker is a cache hit of the unit's rerun)."""
        return self.totals.usage

    @property
    def run_usage(self):
        """LLM usage of the units this call ran: what this run spent (units an interrupted
        run had finished cost nothing now)."""
        return self.ran_totals.usage


ProgressFn = Callable[[str, int, int, dict], None]
_progress: list[ProgressFn | None] = [None]


def set_progress(fn: ProgressFn | None) -> None:
    """Where executors report progress: ``fn(what, done, total, usage)`` after each unit
    (``total`` 0: a one-off step started). The CLI's live line; nothing by default."""
    _progress[0] = fn


def report_progress(what: str, done: int, total: int, usage: dict | None = None) -> None:
    if _progress[0] is not None:
        _progress[0](what, done, total, usage or {})


def unit_label(marker_dir: str) -> str:
    """``spec (chunk)`` for ``stages/spec/runs/<fp>/chunk``."""
    parts = marker_dir.split("/")
    return f"{parts[1]} ({parts[-1]})" if len(parts) >= 5 else parts[-1]


def marker(marker_dir: str, key: str) -> str:
    return posixpath.join(marker_dir, f"{key}.done.json")


def run_unit(ws: Workspace, marker_dir: str, worker: UnitWorker, unit: dict) -> dict:
    """One unit: its outputs (written by the worker), then its done marker (the commit).
    Returns the unit's summary row (its key and LLM usage) for progress."""
    tally = worker.process(unit)
    if not isinstance(tally, Tally):
        raise TypeError(f"{type(worker).__name__}.process must return a Tally, "
                        f"got {type(tally).__name__}")
    ws.write_json(marker(marker_dir, unit["key"]), tally.model_dump(mode="json"))
    u = tally.usage
    return {"key": unit["key"], "calls": u.calls + u.cached_calls,
            "tokens": u.prompt_tokens + u.completion_tokens}


class Executor(ABC):
    """Runs a stage's units and its one-off steps; owns the cluster, never the data."""

    name: ClassVar[str]
    # whether a stage may start Ray Data operations from its driver (spec's dedup across the
    # cluster): the Ray executor's cluster runs them; the local executor has none
    ray_data: ClassVar[bool] = False

    def prepare(self, show_progress: bool) -> None:  # noqa: B027 - optional hook
        """Before a stage runs (e.g. progress bars on or off)."""

    @abstractmethod
    def workers(self, requested: int | None = None) -> int:
        """How many workers a pool gets: the request, capped by what the executor has."""

    @abstractmethod
    def call(self, fn: Callable, *args: Any, resources: Resources | None = None) -> Any:
        """Run one function somewhere with ``resources`` and return its result."""

    @abstractmethod
    def _execute(self, ws: Workspace, marker_dir: str, todo: list[dict],
                 worker: type[UnitWorker], args: tuple, resources: Resources) -> None:
        """Run ``worker`` over ``todo``; each unit through ``run_unit``."""

    def cluster_info(self) -> dict:
        return {"executor": self.name}

    def map_units(self, ws: Workspace, marker_dir: str, units: list[dict],
                  worker: type[UnitWorker], args: tuple = (),
                  resources: Resources | None = None) -> UnitRun:
        """Run ``worker`` over the units (rows with a ``key``) whose done marker in
        ``marker_dir`` is missing, then sum every unit's marker. A killed run redoes only
        unfinished units."""
        todo = [u for u in units if not ws.exists(marker(marker_dir, u["key"]))]
        if todo:
            self._execute(ws, marker_dir, todo, worker, args, resources or Resources())
        ran = {u["key"] for u in todo}
        totals, ran_totals = Tally(), Tally()
        for u in units:
            t = Tally.model_validate(ws.read_json(marker(marker_dir, u["key"])))
            totals.merge(t)
            if u["key"] in ran:
                ran_totals.merge(t)
        return UnitRun(totals, [u["key"] for u in todo], ran_totals)


def run_inline(ws: Workspace, marker_dir: str, todo: list[dict], worker: type[UnitWorker],
               args: tuple, label: str) -> None:
    """Every unit in this process, one worker instance."""
    inst = worker(*args)
    what = unit_label(marker_dir)
    report_progress(what, 0, len(todo))
    for n, u in enumerate(todo, 1):
        row = run_unit(ws, marker_dir, inst, u)
        report_progress(what, n, len(todo), row)
