"""The Ray executor: units on Ray Data (a task pool, an actor pool, or inline), steps as tasks.

It picks the pool from what the stage declares: a worker that ``holds_state`` (a model) gets
an actor pool, one that does not a task pool, and one whose resources say it
``drives_cluster`` (a vLLM engine that spreads each call over its own replicas) runs inline in
the driver. Pools are sized from the cluster's CPUs, capped by ``max_concurrency``; each task
or actor asks for the declared CPUs and GPUs. Only one summary row per unit comes back to the
driver: the data stays in the workspace.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from typing import Any

from proda_ray.executors import placement
from proda_ray.executors.base import (
    Executor,
    UnitWorker,
    report_progress,
    run_inline,
    run_unit,
    unit_label,
)
from proda_ray.workspace.stage import Resources
from proda_ray.workspace.storage import Workspace


def _unit(batch: dict) -> dict:
    return {k: v.tolist()[0] for k, v in batch.items()}


class _Actor:
    """The Ray Data callable class around a stage's worker: set up once, a unit per batch."""

    def __init__(self, worker: type[UnitWorker], args: tuple, ws: Workspace, marker_dir: str):
        self.worker, self.ws, self.marker_dir = worker(*args), ws, marker_dir

    def __call__(self, batch: dict) -> dict:
        row = run_unit(self.ws, self.marker_dir, self.worker, _unit(batch))
        return {k: [v] for k, v in row.items()}


def _task(batch: dict, worker: type[UnitWorker], args: tuple, ws: Workspace,
          marker_dir: str) -> dict:
    row = run_unit(ws, marker_dir, worker(*args), _unit(batch))
    return {k: [v] for k, v in row.items()}


class RayExecutor(Executor):
    name = "ray"

    def prepare(self, show_progress: bool) -> None:
        from ray.data import DataContext

        logging.getLogger("ray.data").setLevel(logging.INFO if show_progress else logging.ERROR)
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = show_progress
        ctx.print_on_execution_start = show_progress

    def workers(self, requested: int | None = None) -> int:
        import ray

        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return max(1, min(requested, cpus) if requested else cpus)

    @staticmethod
    def place(what: str, r: Resources) -> dict:
        """Ray options for one task or actor of ``r``: its CPUs, GPUs and memory, and where
        node kinds are in force its kind (and accelerator); refused at once if the cluster
        cannot host it."""
        pl = placement.current()
        need = pl.demand(r.node_kind, cpus=r.num_cpus, gpus=r.num_gpus,
                         accelerator_type=r.accelerator_type, memory_gb=r.memory_gb)
        pl.check(what, r.node_kind, need)
        return placement.remote_args(need)

    def call(self, fn: Callable, *args: Any, resources: Resources | None = None) -> Any:
        import ray

        name = getattr(fn, "__name__", "step")
        place = self.place(name, resources or Resources())
        report_progress(name.strip("_"), 0, 0)
        return ray.get(ray.remote(**place)(fn).remote(*args))

    def _execute(self, ws: Workspace, marker_dir: str, todo: list[dict],
                 worker: type[UnitWorker], args: tuple, resources: Resources) -> None:
        import ray

        if resources.drives_cluster:
            run_inline(ws, marker_dir, todo, worker, args, posixpath.basename(marker_dir))
            return
        what = unit_label(marker_dir)
        place = self.place(what, resources)
        size = min(self.workers(resources.max_concurrency), len(todo))
        ds = ray.data.from_items(todo, override_num_blocks=len(todo))
        if worker.holds_state:
            ds = ds.map_batches(_Actor, batch_size=1, **place,
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=size),
                                fn_constructor_args=(worker, args, ws, marker_dir))
        else:
            ds = ds.map_batches(_task, batch_size=1, **place,
                                compute=ray.data.TaskPoolStrategy(size=size),
                                fn_args=(worker, args, ws, marker_dir))
        report_progress(what, 0, len(todo))
        for n, row in enumerate(ds.iter_rows(), 1):  # one small summary row per unit
            report_progress(what, n, len(todo), row)

    def cluster_info(self) -> dict:
        try:
            import ray

            if not ray.is_initialized():
                return {"executor": self.name}
            res = ray.cluster_resources()
            return {"executor": self.name,
                    "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
                    "cpus": res.get("CPU", 0), "gpus": res.get("GPU", 0),
                    "node_kinds": placement.current().active()}
        except Exception:  # informative only; never fail a commit over it
            return {"executor": self.name}
