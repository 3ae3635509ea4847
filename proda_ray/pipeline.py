"""The stage registry: every stage by name, built for a round from the project config.

The CLI, ``proda run`` (the loop), the Ray jobs and the benchmarks build stages only here.
A stage's config is the project config's section of the same name (``cfg.spec`` for
``spec``); stages that run a worker pool take ``workers``; ``train``/``eval``/``debug``
declare ``per_round`` and take a ``round`` (and ``train``/``eval`` of a repair round an
``arm``). ``eval.base`` is the reference evaluation: the round-1 base model, ``label="base"``.
Classes are imported when a stage is built, so planning the loop imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proda_ray.config import ProjectConfig
    from proda_ray.workspace import Stage


@dataclass(frozen=True)
class Entry:
    cls: str  # "module:Class"
    section: str  # the ProjectConfig field holding its config
    pool: bool = False  # takes ``workers`` (a worker pool)
    help: str = ""


STAGES: dict[str, Entry] = {
    "spec": Entry("proda_ray.spec.stage:SpecStage", "spec", True,
                  "corpus -> clean, deduplicated, tagged chunks"),
    "extract": Entry("proda_ray.knowledge.stage:ExtractStage", "extract", True,
                     "chunks -> chains, grounded statements, concept mentions"),
    "merge": Entry("proda_ray.knowledge.merge_stage:MergeStage", "merge", False,
                   "extracted rows -> the Knowledge Core"),
    "bench": Entry("proda_ray.tester.stage:BenchStage", "bench", True,
                   "Knowledge Core -> gated items, dev/test/transfer"),
    "build": Entry("proda_ray.builder.stage:BuildStage", "build", True,
                   "L1/L2 -> SFT samples, decontaminated"),
    "train": Entry("proda_ray.compile.stage:TrainStage", "train", False,
                   "SFT samples -> a fine-tuned model (Ray Train)"),
    "eval": Entry("proda_ray.evaluate.stage:EvalStage", "eval", False,
                  "benchmark items -> predictions, accuracy per node"),
    "debug": Entry("proda_ray.debugger.stage:DebugStage", "debug", False,
                   "dev failures -> patches -> the next dataset"),
}
LABELS = {"eval.base": ("eval", "base")}  # reference instances: name -> (stage, label)


def stage_class(name: str) -> type[Stage]:
    entry = _entry(name)
    module, cls = entry.cls.split(":")
    return getattr(import_module(module), cls)


def _entry(name: str) -> Entry:
    if name not in STAGES:
        known = ", ".join([*STAGES, *LABELS])
        raise ValueError(f"unknown stage {name!r}; known: {known}")
    return STAGES[name]


def build_stage(name: str, cfg: ProjectConfig, *, round: int = 1, arm: str | None = None,
                label: str | None = None, workers: int | None = None, **extra: Any) -> Stage:
    """The stage ``name`` (or ``eval.base``) configured from ``cfg``, for ``round``/``arm``.
    ``extra``: stage-specific keywords (``on_phase`` for spec)."""
    reference = name in LABELS
    if reference:
        name, label = LABELS[name]
    entry = _entry(name)
    config = getattr(cfg, entry.section)
    kwargs: dict[str, Any] = dict(extra)
    if entry.pool:
        kwargs["workers"] = workers or cfg.ray.workers
    if label is not None:
        if name != "eval":
            raise ValueError(f"only eval takes a label, not {name!r}")
        if reference:  # eval.base: the round-1 base model, whatever eval.model says
            config = config.model_copy(update={"model": "base"})
        kwargs["label"] = label
    if round != 1:
        kwargs["round"] = round
    if arm is not None:
        kwargs["arm"] = arm
    return stage_class(name)(config, **kwargs)
