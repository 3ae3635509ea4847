"""The local executor: every unit and step in this process, in order. No Ray.

For tests where Ray is not the point, and for debugging a stage with a plain debugger."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from proda_ray.executors.base import Executor, UnitWorker, run_inline
from proda_ray.workspace.stage import Resources
from proda_ray.workspace.storage import Workspace


class LocalExecutor(Executor):
    name = "local"

    def workers(self, requested: int | None = None) -> int:
        return 1

    def call(self, fn: Callable, *args: Any, resources: Resources | None = None) -> Any:
        return fn(*args)

    def _execute(self, ws: Workspace, marker_dir: str, todo: list[dict],
                 worker: type[UnitWorker], args: tuple, resources: Resources) -> None:
        run_inline(ws, marker_dir, todo, worker, args, posixpath.basename(marker_dir))
