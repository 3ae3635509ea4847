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

from pydantic import BaseModel, Field

from proda_ray.rounds import rname

if TYPE_CHECKING:
    from proda_ray.config import ProjectConfig
    from proda_ray.workspace import Stage, StageRun, Workspace

PRE = ("spec", "extract", "merge", "bench", "build")


class LoopConfig(BaseModel):
    """How many repair rounds ``proda run`` does, and what else it evaluates."""

    rounds: int = Field(default=2, ge=1, description="Train/eval rounds (debug between them).")
    reference: bool = Field(default=True, description="Also evaluate the untrained base "
                            "(eval.base), the reference every round is read against.")
    target_dev_accuracy: float | None = Field(
        default=None, gt=0, le=1, description="Stop repairing once dev accuracy reaches this.")
    stages: list[str] = Field(
        default_factory=lambda: [*PRE, "train", "eval", "debug"],
        description="Stages the loop runs (drop train/eval/debug for a data-only run).")


def make_stage(name: str, cfg: ProjectConfig, workers: int | None, round_: int = 1,
               arm: str | None = None) -> Stage:
    """The stage object for ``name`` (``train``/``eval``/``debug`` take a round;
    ``train``/``eval`` of a repair round also an ``arm``: ``blind``, the control)."""
    if name == "spec":
        from proda_ray.spec.stage import SpecStage

        return SpecStage(cfg.spec, workers=workers)
    if name == "extract":
        from proda_ray.knowledge.stage import ExtractStage

        return ExtractStage(cfg.extract, workers=workers)
    if name == "merge":
        from proda_ray.knowledge.merge_stage import MergeStage

        return MergeStage(cfg.merge)
    if name == "bench":
        from proda_ray.tester.stage import BenchStage

        return BenchStage(cfg.bench, workers=workers)
    if name == "build":
        from proda_ray.builder.stage import BuildStage

        return BuildStage(cfg.build, workers=workers)
    if name == "train":
        from proda_ray.compile.stage import TrainStage

        return TrainStage(cfg.train, round=round_, arm=arm)
    if name == "eval":
        from proda_ray.evaluate.stage import EvalStage

        return EvalStage(cfg.eval, round=round_, arm=arm)
    if name == "eval.base":
        from proda_ray.evaluate.stage import EvalStage

        return EvalStage(cfg.eval.model_copy(update={"model": "base"}), label="base")
    if name == "debug":
        from proda_ray.debugger.stage import DebugStage

        return DebugStage(cfg.debug, round=round_)
    known = ", ".join((*PRE, "train", "eval", "eval.base", "debug"))
    raise ValueError(f"unknown stage {name!r}; known: {known}")


def run_loop(ws: Workspace, cfg: ProjectConfig, *, workers: int | None = None,
             show_progress: bool = True,
             on_stage: Callable[[str, StageRun], None] | None = None) -> list[tuple[str, StageRun]]:
    """Run the configured loop; returns (stage name, run) in order."""
    from proda_ray.workspace import run_stage

    done: list[tuple[str, StageRun]] = []
    for stage in _plan(ws, cfg, workers, done):
        r = run_stage(ws, stage, show_progress=show_progress)
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
            yield make_stage(name, cfg, workers)
    if "train" not in want:
        return
    for r in range(1, cfg.loop.rounds + 1):
        yield make_stage("train", cfg, workers, r)
        if "eval" not in want:
            return
        yield make_stage("eval", cfg, workers, r)
        if r == 1 and cfg.loop.reference:
            yield make_stage("eval.base", cfg, workers)
        if r > 1 and cfg.debug.blind_control:
            # the control arm: the same training on samples drawn without diagnosis
            yield make_stage("train", cfg, workers, r, arm="blind")
            yield make_stage("eval", cfg, workers, r, arm="blind")
        if r == cfg.loop.rounds or "debug" not in want:
            return
        dev = (done_report(done, rname("eval", r))
               .get("overall", {}).get("dev") or {})
        if not dev.get("items"):
            return
        target = cfg.loop.target_dev_accuracy
        if dev["accuracy"] >= 1.0 or (target is not None and dev["accuracy"] >= target):
            return  # nothing (or not enough) left to repair on dev
        yield make_stage("debug", cfg, workers, r)


def done_report(done: list, name: str) -> dict:
    return next((r.manifest.report for n, r in reversed(done) if n == name), {})
