"""The loop's order and stopping rule (no Ray: stages are planned, not run)."""

from __future__ import annotations

from types import SimpleNamespace

from proda_ray.config import ProjectConfig
from proda_ray.loop import _plan


def config() -> ProjectConfig:
    cfg = ProjectConfig()
    cfg.spec.corpus = ["corpus/"]
    return cfg


def plan(cfg: ProjectConfig, dev_acc: dict[str, float]) -> list[str]:
    done, names = [], []
    for stage in _plan(None, cfg, None, done):
        names.append(stage.name)
        acc = dev_acc.get(stage.name, 0.5)
        report = {"overall": {"dev": {"items": 10, "accuracy": acc}}}
        done.append((stage.name, SimpleNamespace(manifest=SimpleNamespace(report=report))))
    return names


def test_rounds_in_order_with_the_reference_after_round_one():
    cfg = config()
    cfg.loop.rounds = 3
    assert plan(cfg, {}) == ["spec", "extract", "merge", "bench", "build", "train", "eval",
                             "eval.base", "debug", "train.r2", "eval.r2", "train.r2.blind",
                             "eval.r2.blind", "debug.r2", "train.r3", "eval.r3",
                             "train.r3.blind", "eval.r3.blind"]
    cfg.debug.blind_control = False  # no control arm
    assert plan(cfg, {})[-5:] == ["train.r2", "eval.r2", "debug.r2", "train.r3", "eval.r3"]


def test_stops_when_dev_has_nothing_left_or_reaches_the_target():
    cfg = config()
    cfg.loop.rounds = 3
    assert plan(cfg, {"eval": 1.0})[-2:] == ["eval", "eval.base"]
    cfg.loop.target_dev_accuracy = 0.6
    assert plan(cfg, {"eval.r2": 0.7})[-3:] == ["eval.r2", "train.r2.blind", "eval.r2.blind"]


def test_data_only_loop_and_no_reference():
    cfg = config()
    cfg.loop.stages = ["spec", "extract", "merge", "bench", "build"]
    assert plan(cfg, {}) == ["spec", "extract", "merge", "bench", "build"]
    cfg = config()
    cfg.loop.reference = False
    cfg.loop.rounds = 1
    assert plan(cfg, {})[-2:] == ["train", "eval"]
