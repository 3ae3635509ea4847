"""The closed loop: spec -> extract -> merge -> bench -> build -> (train -> eval -> debug)×n.

Every step is a stage with a fingerprint, so ``proda run`` is a build system: a rerun skips
what is up to date and a killed run resumes inside the stage it was killed in (the stages
keep their finished units and checkpoints). Round n's debug writes ``sft_v{n+1}``; round n+1
trains on it from the same base as round 1 and is compared with round n item by item; beside
it, the control arm trains on ``sft_v{n+1}_blind`` (as many samples from nodes drawn without
diagnosis, the same replay and steps), so the report shows targeted − blind.
The loop stops after ``loop.rounds`` rounds, or earlier when ``dev`` has nothing left to
repair or reaches ``loop.target_dev_accuracy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from pydantic import Field

from proda_ray.configmodel import ConfigModel
from proda_ray.contracts import EvalReport
from proda_ray.pipeline import build_stage
from proda_ray.rounds import rname

if TYPE_CHECKING:
    from proda_ray.config import ProjectConfig
    from proda_ray.workspace import Stage, StageRun, Workspace

PRE = ("spec", "extract", "merge", "bench", "build")


class LoopConfig(ConfigModel):
    """How many repair rounds ``proda run`` does, and what else it evaluates."""

    rounds: int = Field(default=2, ge=1, description="Train/eval rounds (debug between them).")
    reference: bool = Field(default=True, description="Also evaluate the untrained base "
                            "(eval.base), the reference every round is read against.")
    target_dev_accuracy: float | None = Field(
        default=None, gt=0, le=1, description="Stop repairing once dev accuracy reaches this.")
    stages: list[str] = Field(
        default_factory=lambda: [*PRE, "train", "eval", "debug"],
        description="Stages the loop runs (drop train/eval/debug for a data-only run).")


def run_loop(ws: Workspace, cfg: ProjectConfig, *, workers: int | None = None,
             show_progress: bool = True,
             on_stage: Callable[[str, StageRun], None] | None = None,
             on_start: Callable[[str], None] | None = None,
             guard: Callable[[], None] | None = None) -> list[tuple[str, StageRun]]:
    """Run the configured loop; returns (stage name, run) in order. ``on_start(name)``
    before each stage, ``on_stage(name, run)`` after it; ``guard`` as in ``run_stage``."""
    from proda_ray.workspace import run_stage

    done: list[tuple[str, StageRun]] = []
    for stage in _plan(ws, cfg, workers, done):
        if on_start:
            on_start(stage.name)
        r = run_stage(ws, stage, show_progress=show_progress, guard=guard)
        done.append((stage.name, r))
        if on_stage:
            on_stage(stage.name, r)
    return done


def _plan(ws: Workspace, cfg: ProjectConfig, workers: int | None,
          done: list) -> Iterator[Stage]:
    """Stages in order; the round loop looks at each eval before deciding on a debug."""
    want = cfg.loop.stages
    for name in PRE:
        if name in want:
            yield build_stage(name, cfg, workers=workers)
    if "train" not in want:
        return
    for r in range(1, cfg.loop.rounds + 1):
        yield build_stage("train", cfg, round=r)
        if "eval" not in want:
            return
        yield build_stage("eval", cfg, round=r)
        if r == 1 and cfg.loop.reference:
            yield build_stage("eval.base", cfg)
        if r > 1 and cfg.debug.blind_control:
            # the control arm: the same training on samples drawn without diagnosis
            yield build_stage("train", cfg, round=r, arm="blind")
            yield build_stage("eval", cfg, round=r, arm="blind")
        if r == cfg.loop.rounds or "debug" not in want:
            return
        dev = eval_report(done, rname("eval", r)).dev()
        if dev is None or not dev.items:
            return
        target = cfg.loop.target_dev_accuracy
        if dev.accuracy >= 1.0 or (target is not None and dev.accuracy >= target):
            return  # nothing (or not enough) left to repair on dev
        yield build_stage("debug", cfg, round=r)


def eval_report(done: list, name: str) -> EvalReport:
    """The typed report of the last run of eval stage ``name`` in ``done``."""
    report = next((r.manifest.report for n, r in reversed(done) if n == name), None)
    if report is None:
        raise RuntimeError(f"the loop needs {name!r}'s report, but it has not run")
    return EvalReport.model_validate(report)
