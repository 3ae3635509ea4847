"""The cluster launcher configs (cluster/aws.yaml, cluster/gcp.yaml) pass Ray's own
validation — the path `ray up` takes: the provider's defaults merged in by
``prepare_config``, then ``validate_config`` (the autoscaler's JSON schema and its checks) —
and planted mistakes are refused by it. Then what proda needs of them: groups that scale to
zero, each advertising its node kind, a head that takes no work and declares the kinds."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from proda_ray.executors.placement import NODE_KINDS, kind_resource

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
CONFIGS = ["aws.yaml", "gcp.yaml"]


def ray_validate(cfg: dict) -> dict:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(cfg))
    validate_config(prepared)
    return prepared


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


@pytest.mark.parametrize("name", CONFIGS)
def test_rays_validator_accepts_the_config(name):
    prepared = ray_validate(load(name))
    assert prepared["provider"]["type"] == name.removesuffix(".yaml")
    assert set(prepared["available_node_types"]) == {"head", *NODE_KINDS}


def _misspelled_top(c):
    c["idle_timout_minutes"] = c.pop("idle_timeout_minutes")


def _misspelled_group(c):
    c["available_node_types"]["inference"]["min_worker"] = 0


def _fractional_gpus(c):
    c["available_node_types"]["train"]["resources"]["GPU"] = 7.5


def _no_node_config(c):
    del c["available_node_types"]["cpu"]["node_config"]


def _unknown_head(c):
    c["head_node_type"] = "ray.head.default"


def _min_over_max(c):
    c["available_node_types"]["cpu"]["min_workers"] = 30


PLANTED = [_misspelled_top, _misspelled_group, _fractional_gpus, _no_node_config,
           _unknown_head, _min_over_max]


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("plant", PLANTED, ids=lambda f: f.__name__.strip("_"))
def test_rays_validator_refuses_a_planted_mistake(name, plant):
    cfg = load(name)
    plant(cfg)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        ray_validate(cfg)


@pytest.mark.parametrize("name", CONFIGS)
def test_groups_scale_to_zero_and_advertise_their_kind(name):
    cfg = load(name)
    types = cfg["available_node_types"]
    head = types.pop(cfg["head_node_type"])
    assert head["resources"] == {"CPU": 0}, "the head must take no task"
    start = " ".join(cfg["head_start_ray_commands"])
    declared = re.search(r"PRODA_SCALABLE_KINDS=([\w,]+)", start)
    assert declared and set(declared.group(1).split(",")) == set(types)
    assert cfg["idle_timeout_minutes"] > 0
    for kind, t in types.items():
        assert t["min_workers"] == 0 and t["max_workers"] > 0, kind
        kinds = [r for r in t["resources"] if r.startswith("proda_")]
        assert kinds == [kind_resource(kind)] and t["resources"][kinds[0]] == 1, kind
        gpus = t["resources"].get("GPU", 0)
        accel = [r for r in t["resources"] if r.startswith("accelerator_type:")]
        assert (kind != "cpu") == (gpus > 0) == bool(accel), kind
        assert t["labels"]["proda.io/node-kind"] == kind
    assert sum(t["max_workers"] for t in types.values()) <= cfg["max_workers"]
    # the exact commands are in the header
    head_text = (CLUSTER / name).read_text().split("\ncluster_name")[0]
    assert f"ray up cluster/{name}" in head_text and "ray job submit" in head_text
    import ray

    images = re.findall(r"rayproject/ray:([\w.]+)-py", json.dumps(cfg))
    assert images and set(images) == {ray.__version__}  # the Ray the project pins
