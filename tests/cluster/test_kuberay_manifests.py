"""The KubeRay manifests in cluster/kuberay/, checked against the real CRD schemas.

Each document is validated with ``jsonschema`` against the ``openAPIV3Schema`` of the CRD
version its apiVersion names, made strict the way ``kubectl apply --validate=strict`` is:
a field the schema does not declare is an error. Planted mistakes (a misspelled field, a wrong
type, a missing required field, a value outside an enum) must be rejected, which shows the
validator can fail. Then the project's own rules: every worker group scales from zero and
advertises exactly its node kind, GPU groups ask Kubernetes for the GPUs they tell Ray about,
the head takes no work, and the RayJobs run ``proda`` on a workspace in object storage.

The CRDs are reference data outside the repository (../shared/reference/kuberay); without
them the tests are skipped. No network, no cluster.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from proda_ray.executors.placement import (
    NODE_KINDS,
    SCALABLE_ENV,
    accelerator_resource,
    kind_resource,
)

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO.parent / "shared/reference/kuberay"
MANIFESTS = REPO / "cluster/kuberay"
FILES = ("raycluster.yaml", "rayjob-loop.yaml", "rayjob-stage.yaml")
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}

# What each worker group is for: its accelerator (Ray's type name, the GKE node label).
GPU_GROUPS = {"inference": ("L4", "nvidia-l4"), "train": ("H100", "nvidia-h100-80gb")}
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GPU = "nvidia.com/gpu"
# RayJob.spec.submissionMode is a plain string in the CRD (no enum); KubeRay's modes:
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}
# KubeRay's own checks on names: a DNS-1035 label, at most 53 (RayCluster) / 47 (RayJob)
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = {"RayCluster": 53, "RayJob": 47}

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 1-1.4 MB of YAML


# ---- the schemas -----------------------------------------------------------------------------


@cache
def crd(kind: str) -> dict:
    path = CRD_DIR / CRD_FILES[kind]
    if not path.is_file():
        pytest.skip(f"KubeRay CRD reference not found at {path} (shared/reference/kuberay is "
                    "reference data outside the repo)")
    with path.open() as f:
        return yaml.load(f, Loader=_Loader)


def strict(schema: dict) -> dict:
    """A copy of a Kubernetes structural schema as JSON Schema with unknown fields refused:
    every object schema with ``properties`` (and no ``x-kubernetes-preserve-unknown-fields``
    or ``additionalProperties`` of its own) gets ``additionalProperties: false``;
    ``x-kubernetes-int-or-string`` accepts an int or a string; ``nullable`` accepts null."""
    s = dict(schema)
    if "properties" in s:
        s["properties"] = {k: strict(v) for k, v in s["properties"].items()}
        if not s.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in s:
            s["additionalProperties"] = False
    if isinstance(s.get("additionalProperties"), dict):
        s["additionalProperties"] = strict(s["additionalProperties"])
    if isinstance(s.get("items"), dict):
        s["items"] = strict(s["items"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in s:
            s[key] = [strict(x) for x in s[key]]
    if isinstance(s.get("not"), dict):
        s["not"] = strict(s["not"])
    if s.get("x-kubernetes-int-or-string"):
        s.pop("type", None)
        s.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if s.get("nullable") and isinstance(s.get("type"), str):
        s["type"] = [s["type"], "null"]
        if "enum" in s:
            s["enum"] = [*s["enum"], None]
    return s


# The root metadata is a bare `type: object` in a CRD (the API server checks ObjectMeta
# itself); a minimal stand-in: a name, and labels/annotations as string maps.
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    group, _, version = api_version.partition("/")
    doc = crd(kind)
    assert doc["spec"]["group"] == group, f"{kind}: CRD group is {doc['spec']['group']}"
    assert doc["spec"]["names"]["kind"] == kind
    (entry,) = [v for v in doc["spec"]["versions"] if v["name"] == version]
    assert entry["served"], f"{api_version} {kind} is not served"
    schema = strict(entry["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = METADATA
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata"})
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validate(doc: dict) -> None:
    validator(doc["apiVersion"], doc["kind"]).validate(doc)


# ---- the manifests ---------------------------------------------------------------------------


@cache
def _load(name: str) -> tuple[dict, ...]:
    with (MANIFESTS / name).open() as f:
        return tuple(d for d in yaml.safe_load_all(f) if d is not None)


def docs(name: str) -> list[dict]:
    return copy.deepcopy(list(_load(name)))


def one(name: str) -> dict:
    (doc,) = docs(name)
    return doc


def cluster_specs() -> list[tuple[str, dict]]:
    """Every RayCluster spec in the manifests: the RayCluster's, and each RayJob's own."""
    out = []
    for name in FILES:
        for d in docs(name):
            if d["kind"] == "RayCluster":
                out.append((f"{name}:{d['metadata']['name']}", d["spec"]))
            elif d["kind"] == "RayJob" and "rayClusterSpec" in d["spec"]:
                out.append((f"{name}:{d['metadata']['name']}", d["spec"]["rayClusterSpec"]))
    return out


def rayjobs() -> list[tuple[str, dict]]:
    return [(name, d) for name in FILES for d in docs(name) if d["kind"] == "RayJob"]


def ray_resources(start_params: dict) -> dict[str, float]:
    """``rayStartParams.resources`` in KubeRay's documented form, '"{\\"X\\": 1}"': a JSON
    object, quoted, with its inner quotes escaped (the text ends up in a shell command)."""
    text = start_params.get("resources")
    if text is None:
        return {}
    assert text.startswith('"') and text.endswith('"'), f"not KubeRay's quoted form: {text!r}"
    value = json.loads(text[1:-1].replace('\\"', '"'))
    assert isinstance(value, dict), text
    return {k: float(v) for k, v in value.items()}


def advertised(group: dict) -> dict[str, float]:
    """The custom resources a head or worker group gives Ray: ``rayStartParams.resources``
    or the group's ``resources`` field (KubeRay refuses both on one group)."""
    params, field = group.get("rayStartParams", {}), group.get("resources", {})
    resource_params = {"num-cpus", "num-gpus", "memory", "resources"} & set(params)
    assert not (resource_params and field), (
        f"group {group.get('groupName', 'head')}: rayStartParams {sorted(resource_params)} "
        "and the group's resources field together (KubeRay refuses that)")
    if field:
        return {k: float(v) for k, v in field.items() if k not in ("CPU", "GPU", "memory")}
    return ray_resources(params)


def ray_container(group: dict) -> dict:
    return group["template"]["spec"]["containers"][0]  # KubeRay: the first one runs Ray


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def check_cluster(spec: dict) -> None:
    """The project's rules for one RayCluster spec (AssertionError on the first broken)."""
    assert spec.get("enableInTreeAutoscaling") is True, "the in-tree autoscaler is off"
    opts = spec.get("autoscalerOptions", {})
    assert opts.get("version") == "v2", "autoscaler v2 is not selected (autoscalerOptions)"
    assert opts.get("idleTimeoutSeconds", 0) > 0, "no idle timeout: nodes never scale down"

    head = spec["headGroupSpec"]
    head_container = ray_container(head)
    assert head.get("rayStartParams", {}).get("num-cpus") == "0", "the head takes work"
    assert not any(k.startswith("proda_") for k in advertised(head)), "the head has a kind"
    assert GPU not in head_container.get("resources", {}).get("limits", {})
    ports = {p.get("name"): p["containerPort"] for p in head_container.get("ports", [])}
    assert ports.get("dashboard") == 8265, f"dashboard port: {ports}"
    env = env_of(head_container)
    # the operator refuses this env var next to autoscalerOptions.version (it sets it itself)
    assert "RAY_enable_autoscaler_v2" not in env, "RAY_enable_autoscaler_v2 set on the head"
    version = spec["rayVersion"]

    groups = spec["workerGroupSpecs"]
    names = [g["groupName"] for g in groups]
    assert sorted(names) == sorted(NODE_KINDS), f"worker groups {names} != {NODE_KINDS}"
    scalable = [k.strip() for k in env.get(SCALABLE_ENV, "").split(",") if k.strip()]
    assert sorted(scalable) == sorted(names), (
        f"head {SCALABLE_ENV}={scalable}: every group scales from zero, so all must be listed")

    for pod in [head, *groups]:
        policy = pod["template"]["spec"].get("restartPolicy")
        assert policy in (None, "Never"), f"restartPolicy {policy} (autoscaler v2: Never)"
        for c in pod["template"]["spec"]["containers"]:
            assert c["image"].startswith("rayproject/ray:") or "proda" in c["image"], c["image"]
            if c["image"].startswith("rayproject/ray:"):
                tag = c["image"].split(":", 1)[1]
                assert tag.startswith(f"{version}-"), f"{c['image']} is not Ray {version}"

    for g in groups:
        kind, where = g["groupName"], f"group {g['groupName']}"
        assert g["minReplicas"] == 0, f"{where}: minReplicas {g['minReplicas']} (scale to 0)"
        assert g.get("replicas", 0) == 0, f"{where}: starts with replicas"
        assert g["maxReplicas"] >= 1, f"{where}: maxReplicas {g['maxReplicas']}"
        res = advertised(g)
        kinds = {k: v for k, v in res.items() if k.startswith("proda_")}
        assert kinds == {kind_resource(kind): 1.0}, f"{where} advertises {kinds}"
        accelerators = {k: v for k, v in res.items() if k.startswith("accelerator_type:")}
        container = ray_container(g)
        limits = container.get("resources", {}).get("limits", {})
        pod = g["template"]["spec"]
        if kind in GPU_GROUPS:
            acc, label = GPU_GROUPS[kind]
            assert accelerators == {accelerator_resource(acc): 1.0}, f"{where}: {accelerators}"
            assert GPU in limits, f"{where}: no {GPU} limit"
            assert int(limits[GPU]) >= 1
            if "num-gpus" in g.get("rayStartParams", {}):
                assert int(g["rayStartParams"]["num-gpus"]) == int(limits[GPU]), (
                    f"{where}: num-gpus {g['rayStartParams']['num-gpus']} != {GPU} "
                    f"{limits[GPU]}")
            assert any(t.get("key") == GPU and t.get("effect") == "NoSchedule"
                       and t.get("operator", "Equal") in ("Exists", "Equal")
                       for t in pod.get("tolerations", [])), f"{where}: no {GPU} toleration"
            assert pod.get("nodeSelector", {}).get(GKE_ACCELERATOR) == label, (
                f"{where}: nodeSelector {pod.get('nodeSelector')}")
            assert container["image"].endswith("-gpu"), f"{where}: {container['image']}"
        else:
            assert not accelerators, f"{where}: {accelerators}"
            assert GPU not in limits, f"{where}: a CPU group asks for GPUs"
        if kind == "train":
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            shm = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/dev/shm"]
            assert shm, f"{where}: no /dev/shm volume for NCCL"
            assert volumes[shm[0]["name"]].get("emptyDir", {}).get("medium") == "Memory"
        for c in pod["containers"]:
            r = c.get("resources", {})
            for key in ("cpu", "memory"):
                if key in r.get("requests", {}):
                    assert str(r["requests"][key]) == str(r["limits"][key]), (
                        f"{where}: {key} request != limit (Ray sizes a node by its limits)")


def workspace_of(entrypoint: str) -> tuple[str, list[str]]:
    argv = shlex.split(entrypoint)
    assert argv[0] == "proda", f"entrypoint {entrypoint!r} does not run proda"
    for i, a in enumerate(argv):
        if a in ("-w", "--workspace"):
            return argv[i + 1], argv
        if a.startswith("--workspace="):
            return a.split("=", 1)[1], argv
    raise AssertionError(f"entrypoint {entrypoint!r} names no workspace")


def check_rayjob(job: dict, cluster_names: set[str]) -> None:
    """The project's rules for one RayJob."""
    name = job["metadata"]["name"]
    spec = job["spec"]
    entrypoint = spec["entrypoint"]
    assert entrypoint.startswith("proda "), entrypoint
    ws, argv = workspace_of(entrypoint)
    assert ws.startswith(("s3://", "gs://")), f"{name}: workspace {ws} is not object storage"
    if "--preset" in argv:
        preset = argv[argv.index("--preset") + 1]
        presets = {p.stem for p in (REPO / "proda_ray/compile/presets").glob("*.yaml")}
        assert preset in presets, f"{name}: preset {preset} not in {sorted(presets)}"
    mode = spec.get("submissionMode", "K8sJobMode")
    assert mode in SUBMISSION_MODES, f"{name}: submissionMode {mode}"
    selector = spec.get("clusterSelector")
    assert bool(selector) != ("rayClusterSpec" in spec), (
        f"{name}: needs exactly one of rayClusterSpec and clusterSelector")
    if selector:
        assert selector.get("ray.io/cluster") in cluster_names, (
            f"{name}: clusterSelector {selector} names none of {sorted(cluster_names)}")
        assert mode != "SidecarMode", f"{name}: SidecarMode cannot use clusterSelector"
    else:
        assert spec.get("shutdownAfterJobFinishes") is True, f"{name}: cluster left running"
        assert spec.get("ttlSecondsAfterFinished", -1) >= 0, name


def cluster_names() -> set[str]:
    return {d["metadata"]["name"] for n in FILES for d in docs(n) if d["kind"] == "RayCluster"}


# ---- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_manifest_matches_crd_schema(name):
    loaded = docs(name)
    assert loaded, f"{name} is empty"
    for doc in loaded:
        assert doc["apiVersion"] == "ray.io/v1", doc["apiVersion"]
        assert doc["kind"] in CRD_FILES, doc["kind"]
        validate(doc)
        meta = doc["metadata"]["name"]
        assert DNS_1035.match(meta) and len(meta) <= MAX_NAME[doc["kind"]], meta


def test_strict_schema_refuses_unknown_fields_only_where_declared():
    v = validator("ray.io/v1", "RayCluster").schema
    spec = v["properties"]["spec"]
    group = spec["properties"]["workerGroupSpecs"]["items"]
    assert group["additionalProperties"] is False
    assert spec["properties"]["autoscalerOptions"]["additionalProperties"] is False
    # free-form maps keep their own value schema
    assert group["properties"]["rayStartParams"]["additionalProperties"] == {"type": "string"}
    limits = (group["properties"]["template"]["properties"]["spec"]["properties"]["containers"]
              ["items"]["properties"]["resources"]["properties"]["limits"])
    assert limits["additionalProperties"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]


def test_quantities_accept_int_or_string():
    doc = one("raycluster.yaml")
    res = ray_container(doc["spec"]["workerGroupSpecs"][0])["resources"]
    res["limits"]["cpu"], res["requests"]["cpu"] = 32, "32000m"
    validate(doc)


def _worker(doc: dict, kind: str) -> dict:
    spec = doc["spec"].get("rayClusterSpec", doc["spec"])
    (g,) = [g for g in spec["workerGroupSpecs"] if g["groupName"] == kind]
    return g


def _rename(d: dict, old: str, new: str) -> None:
    d[new] = d.pop(old)


# (manifest, what is planted, the mutation, the jsonschema validator that must fire)
PLANTED: list[tuple[str, str, Callable[[dict], None], str]] = [
    ("raycluster.yaml", "misspelled minReplicas",
     lambda d: _rename(_worker(d, "cpu"), "minReplicas", "minReplica"), "additionalProperties"),
    ("raycluster.yaml", "misspelled optional autoscaler field",
     lambda d: _rename(d["spec"]["autoscalerOptions"], "idleTimeoutSeconds",
                       "idleTimeoutSecond"), "additionalProperties"),
    ("raycluster.yaml", "misspelled field deep in the pod template",
     lambda d: _rename(_worker(d, "train")["template"]["spec"], "nodeSelector", "nodeSelecter"),
     "additionalProperties"),
    ("rayjob-stage.yaml", "misspelled RayJob field",
     lambda d: _rename(d["spec"], "clusterSelector", "clusterSelecter"),
     "additionalProperties"),
    ("raycluster.yaml", "maxReplicas as a word",
     lambda d: _worker(d, "inference").update(maxReplicas="ten"), "type"),
    ("rayjob-loop.yaml", "shutdownAfterJobFinishes as a string",
     lambda d: d["spec"].update(shutdownAfterJobFinishes="yes"), "type"),
    ("raycluster.yaml", "a GPU limit that is not a quantity",
     lambda d: ray_container(_worker(d, "train"))["resources"]["limits"].update(
         {GPU: True}), "anyOf"),
    ("raycluster.yaml", "a memory limit that does not parse",
     lambda d: ray_container(_worker(d, "cpu"))["resources"]["limits"].update(memory="lots"),
     "pattern"),
    ("raycluster.yaml", "container without its required name",
     lambda d: ray_container(d["spec"]["headGroupSpec"]).pop("name"), "required"),
    ("raycluster.yaml", "worker group without groupName",
     lambda d: _worker(d, "train").pop("groupName"), "required"),
    ("rayjob-loop.yaml", "RayJob head container without name",
     lambda d: ray_container(d["spec"]["rayClusterSpec"]["headGroupSpec"]).pop("name"),
     "required"),
    ("raycluster.yaml", "metadata without a name",
     lambda d: d["metadata"].pop("name"), "required"),
    ("raycluster.yaml", "upscalingMode outside its enum",
     lambda d: d["spec"]["autoscalerOptions"].update(upscalingMode="Fast"), "enum"),
    ("rayjob-loop.yaml", "autoscaler version outside its enum",
     lambda d: d["spec"]["rayClusterSpec"]["autoscalerOptions"].update(version="v3"), "enum"),
]


@pytest.mark.parametrize(("name", "mutate", "expected"),
                         [pytest.param(n, m, e, id=w) for n, w, m, e in PLANTED])
def test_planted_schema_errors_are_rejected(name, mutate, expected):
    doc = one(name)
    validate(doc)  # the file itself is valid: the mutation is what breaks it
    mutate(doc)
    v = validator(doc["apiVersion"], doc["kind"])
    with pytest.raises(jsonschema.ValidationError):
        v.validate(doc)
    found = {e.validator for e in v.iter_errors(doc)}
    assert expected in found, f"expected a {expected!r} error, got {found}"


def test_cluster_invariants():
    specs = cluster_specs()
    assert {n.split(":")[0] for n, _ in specs} == {"raycluster.yaml", "rayjob-loop.yaml"}
    for where, spec in specs:
        try:
            check_cluster(spec)
        except AssertionError as e:
            raise AssertionError(f"{where}: {e}") from e


def test_rayjob_cluster_is_the_raycluster():
    """The loop's own cluster is the long-lived one, group for group."""
    assert one("rayjob-loop.yaml")["spec"]["rayClusterSpec"] == one("raycluster.yaml")["spec"]


def test_rayjob_invariants():
    jobs = rayjobs()
    assert {n for n, _ in jobs} == {"rayjob-loop.yaml", "rayjob-stage.yaml"}
    for _, job in jobs:
        check_rayjob(job, cluster_names())
    loop = shlex.split(one("rayjob-loop.yaml")["spec"]["entrypoint"])
    assert loop[:2] == ["proda", "run"] and "--rounds" in loop and "--preset" in loop
    stage = shlex.split(one("rayjob-stage.yaml")["spec"]["entrypoint"])
    assert stage[:2] == ["proda", "extract"]
    assert stage[stage.index("--engine") + 1] == "vllm"


def test_ray_version_is_the_repo_pin():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (ray,) = [d for d in deps if d.startswith("ray[")]
    pin = ray.split("==", 1)[1]
    for where, spec in cluster_specs():
        assert spec["rayVersion"] == pin, f"{where}: rayVersion {spec['rayVersion']} != {pin}"


def _head(spec: dict) -> dict:
    return spec["headGroupSpec"]


# Planted breaks of the project's rules: each must trip check_cluster / check_rayjob.
BROKEN_CLUSTER: list[tuple[str, Callable[[dict], None]]] = [
    ("worker group not scaling to zero", lambda s: _worker({"spec": s}, "cpu").update(
        minReplicas=1)),
    ("head takes work", lambda s: _head(s)["rayStartParams"].update({"num-cpus": "4"})),
    ("group advertises another kind", lambda s: _worker({"spec": s}, "cpu")[
        "rayStartParams"].update(resources='"{\\"proda_train\\": 1}"')),
    ("group advertises two kinds", lambda s: _worker({"spec": s}, "inference")[
        "rayStartParams"].update(
            resources='"{\\"proda_inference\\": 1, \\"proda_cpu\\": 1, '
                      '\\"accelerator_type:L4\\": 1}"')),
    ("resources not in KubeRay's quoted form", lambda s: _worker({"spec": s}, "cpu")[
        "rayStartParams"].update(resources='{"proda_cpu": 1}')),
    ("num-gpus differs from the GPU limit", lambda s: _worker({"spec": s}, "train")[
        "rayStartParams"].update({"num-gpus": "4"})),
    ("GPU group without the toleration", lambda s: _worker({"spec": s}, "inference")[
        "template"]["spec"].pop("tolerations")),
    ("train without /dev/shm", lambda s: ray_container(_worker({"spec": s}, "train"))[
        "volumeMounts"].pop(0)),
    ("autoscaler v1", lambda s: s["autoscalerOptions"].update(version="v1")),
    ("v2 env var next to autoscalerOptions.version", lambda s: ray_container(_head(s))[
        "env"].append({"name": "RAY_enable_autoscaler_v2", "value": "1"})),
    ("scalable kinds not declared", lambda s: ray_container(_head(s)).update(env=[])),
]


@pytest.mark.parametrize("mutate", [pytest.param(m, id=w) for w, m in BROKEN_CLUSTER])
def test_planted_cluster_rule_breaks_are_caught(mutate):
    spec = one("raycluster.yaml")["spec"]
    check_cluster(spec)
    mutate(spec)
    with pytest.raises(AssertionError):
        check_cluster(spec)


BROKEN_JOB: list[tuple[str, str, Callable[[dict], None]]] = [
    ("rayjob-loop.yaml", "local workspace",
     lambda j: j["spec"].update(entrypoint="proda run -w /tmp/ws --rounds 2")),
    ("rayjob-loop.yaml", "not proda",
     lambda j: j["spec"].update(entrypoint="python -m proda_ray.cli run -w s3://b/ws")),
    ("rayjob-loop.yaml", "unknown preset",
     lambda j: j["spec"].update(entrypoint="proda run -w s3://b/ws --preset gpu-70b")),
    ("rayjob-loop.yaml", "submissionMode not a KubeRay mode",
     lambda j: j["spec"].update(submissionMode="BatchMode")),
    ("rayjob-loop.yaml", "cluster kept after the job",
     lambda j: j["spec"].update(shutdownAfterJobFinishes=False)),
    ("rayjob-stage.yaml", "selector names another cluster",
     lambda j: j["spec"]["clusterSelector"].update({"ray.io/cluster": "other"})),
    ("rayjob-stage.yaml", "SidecarMode with a selector",
     lambda j: j["spec"].update(submissionMode="SidecarMode")),
]


@pytest.mark.parametrize(("name", "mutate"),
                         [pytest.param(n, m, id=w) for n, w, m in BROKEN_JOB])
def test_planted_rayjob_rule_breaks_are_caught(name, mutate):
    job = one(name)
    check_rayjob(job, cluster_names())
    mutate(job)
    validate(job)  # still schema-valid: only the project's rules catch these
    with pytest.raises(AssertionError):
        check_rayjob(job, cluster_names())
