"""Node kinds on the session's real single-node Ray: off where no node advertises one, and a
request the cluster cannot meet refused at once with what it has (never a hang)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proda_ray.executors import placement
from proda_ray.executors.placement import Placement, PlacementError
from tests.conftest import SAMPLE_CORPUS


def test_auto_is_off_on_a_cluster_without_kinds(ray_local):
    p = Placement("auto")
    assert not p.active()
    assert p.demand("inference", cpus=1, gpus=0) == {"CPU": 1.0}
    p.check("anything", "train", {"CPU": 1.0})  # Ray places it as always


def test_kinds_ask_for_the_kind_and_refuse_what_no_node_has(ray_local):
    p = Placement("kinds")
    need = p.demand("train", cpus=2, gpus=1, accelerator_type="H100", memory_gb=4)
    assert need == {"CPU": 2.0, "GPU": 1.0, "memory": 4 * 2**30, "proda_train": 0.001,
                    "accelerator_type:H100": 0.001}
    assert placement.remote_args(need) == {
        "num_cpus": 2.0, "num_gpus": 1.0, "memory": 4 * 2**30,
        "resources": {"proda_train": 0.001, "accelerator_type:H100": 0.001}}
    t0 = time.monotonic()
    with pytest.raises(PlacementError) as e:
        p.check("train.r1", "train", need)
    assert time.monotonic() - t0 < 5
    msg = str(e.value)
    assert "train.r1 needs a 'train' node" in msg and "accelerator_type:H100" in msg
    assert "no kind (2 CPU)" in msg  # what the cluster has


def test_a_scalable_kind_is_left_to_the_autoscaler(ray_local, monkeypatch):
    monkeypatch.setenv(placement.SCALABLE_ENV, "inference, train")
    p = Placement("auto")
    assert p.active() and p.scalable == ("inference", "train")
    p.check("eval.r1", "inference", p.demand("inference", cpus=1, gpus=1))
    with pytest.raises(PlacementError, match="needs a 'cpu' node"):
        p.check("spec", "cpu", p.demand("cpu", cpus=64))


def test_unknown_kinds_and_modes_are_config_errors():
    with pytest.raises(ValueError, match="unknown node kind 'gpu'"):
        Placement("auto", ["gpu"])
    with pytest.raises(ValueError, match=r"ray\.placement must be one of"):
        Placement("always")


def test_the_cli_refuses_a_stage_whose_kind_is_missing_in_one_line(tmp_path):
    proda = str(Path(sys.executable).with_name("proda"))
    t0 = time.monotonic()
    r = subprocess.run([proda, "spec", "-w", str(tmp_path / "ws"), "-c", str(SAMPLE_CORPUS),
                        "-q", "--set", "ray.placement=kinds", "--set", "ray.num_cpus=1"],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "",
                            "COLUMNS": "4000"})
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "needs a 'cpu' node" in out and "ray.placement=off" in out
    assert "Traceback" not in out
    assert time.monotonic() - t0 < 120
