"""Executors: what runs a stage's units — Ray (task pool, actor pool or inline) or this process.

A stage declares its units, a ``UnitWorker`` class and the ``Resources`` one worker needs; an
executor places the workers, writes each unit's done marker and sums the markers. Stages never
import Ray (``compile`` excepted: Ray Train is its API).
"""

from proda_ray.executors.base import Executor, UnitRun, UnitWorker
from proda_ray.executors.local import LocalExecutor
from proda_ray.executors.ray_executor import RayExecutor

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "UnitRun", "UnitWorker", "executor"]


def executor(kind: str = "ray") -> Executor:
    """An executor by name: ``ray`` (the default; Ray must be initialised) or ``local``."""
    if kind == "ray":
        return RayExecutor()
    if kind == "local":
        return LocalExecutor()
    raise ValueError(f"unknown executor {kind!r}; known: ray, local")
