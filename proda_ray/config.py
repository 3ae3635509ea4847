"""The project config: ``proda.yaml`` at the workspace root <-> pydantic.

Each stage has its own section; the file is the source of truth for a project, and CLI flags
override it for one invocation (``--set spec.chunk.max_tokens=512`` reaches any field).
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from proda_ray.builder.config import BuildConfig
from proda_ray.compile.config import TrainConfig, load_preset
from proda_ray.configmodel import ConfigModel
from proda_ray.debugger.config import DebugConfig
from proda_ray.evaluate.config import EvalConfig
from proda_ray.knowledge.config import ExtractConfig, MergeConfig
from proda_ray.loop import LoopConfig
from proda_ray.spec.config import SpecConfig
from proda_ray.tester.config import BenchConfig
from proda_ray.workspace.storage import Workspace

CONFIG_FILE = "proda.yaml"

_HEADER = """\
# proda-ray project config. Edit freely; `proda status` shows what is stale after a change.
# Every field is documented in proda_ray/<stage>/config.py; defaults work out of the box.
# Run the whole loop with:   proda run --workspace {ws}
"""


class RayConfig(ConfigModel):
    address: str | None = Field(
        default=None,
        description="Ray cluster to attach to ('auto', 'ray://host:10001'); None starts a "
        "local single-node Ray sized to this machine.",
    )
    num_cpus: int | None = Field(default=None, description="CPUs of the local Ray (None: all).")
    workers: int | None = Field(
        default=None, description="Parallel tasks/actors for CPU stages (None: all CPUs)."
    )
    placement: Literal["auto", "kinds", "off"] = Field(
        default="auto", description="Place each stage on the node kind it declares (cpu, "
        "inference, train) by the logical resources nodes advertise (proda_cpu...): 'auto' "
        "where the cluster has such nodes or declares scalable kinds, 'kinds' always, 'off' "
        "never. See docs/scale.md.")
    scalable_kinds: list[Literal["cpu", "inference", "train"]] = Field(
        default_factory=list, description="Node kinds the cluster's autoscaler can add though "
        "none is up (also PRODA_SCALABLE_KINDS on the head); work for any other missing kind "
        "fails at once.")

    @field_validator("placement", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        """YAML reads a bare ``off`` as false (and ``on`` as true)."""
        return {False: "off", True: "kinds"}.get(v, v) if isinstance(v, bool) else v


class ProjectConfig(ConfigModel):
    name: str = Field(default="proda-project", description="Project name (reports, Studio).")
    ray: RayConfig = Field(default_factory=RayConfig)
    spec: SpecConfig = Field(default_factory=SpecConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    merge: MergeConfig = Field(default_factory=MergeConfig)
    bench: BenchConfig = Field(default_factory=BenchConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    train: TrainConfig = Field(
        default_factory=lambda: load_preset("cpu-gemma-270m"),
        description="Fine-tuning (default: the laptop preset, LoRA on the bundled Gemma 3 "
        "270M; `proda run --preset gpu-7b-zero3` or edit for clusters).")
    eval: EvalConfig = Field(default_factory=EvalConfig)
    debug: DebugConfig = Field(default_factory=DebugConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)

    @classmethod
    def load(cls, ws: Workspace) -> ProjectConfig:
        """The workspace's ``proda.yaml`` (defaults where there is none). A file that is not
        YAML, not a mapping, or has an unknown key or a bad value raises ``ConfigError``:
        one line naming the file, the key and the fix."""
        if not ws.exists(CONFIG_FILE):
            return cls()
        where = ws.uri_of(CONFIG_FILE)
        try:
            data = yaml.safe_load(ws.read_bytes(CONFIG_FILE))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"{where}: not valid YAML{at}: {problem}") from None
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of sections (spec:, extract:, …), "
                              f"got {type(data).__name__}")
        return validate(data, where)

    def save(self, ws: Workspace) -> None:
        body = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        ws.write_bytes(CONFIG_FILE, (_HEADER.format(ws=ws.uri) + body).encode())


def apply_overrides(cfg: ProjectConfig, overrides: list[str]) -> ProjectConfig:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML: 512, true, [a, b])."""
    data = cfg.model_dump(mode="json")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        node: Any = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            if not isinstance(node, dict) or p not in node:
                raise ValueError(f"--set {key}: no section {p!r}")
            if node[p] is None and parts[-1] == "kind":  # an optional engine, now set
                node[p] = {"kind": None}
            node = node[p]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ValueError(f"--set {key}: unknown field {parts[-1]!r}"
                             + _did_you_mean(parts[-1], node if isinstance(node, dict) else {}))
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ValueError(f"--set {key}: {raw!r} is not a YAML value") from None
        if parts[-1] == "kind" and node.get("kind") != value:
            node.clear()  # another member of a tagged union: its own defaults, not these
            node["kind"] = value
            data = validate(data, "--set").model_dump(mode="json")  # fill them in
            continue
        node[parts[-1]] = value
    return validate(data, "--set")


class ConfigError(ValueError):
    """A config that cannot be used, in one line."""


def validate(data: dict, where: str) -> ProjectConfig:
    """``ProjectConfig`` from ``data``; a validation failure is one ``ConfigError`` line
    (the first problem, the number of others)."""
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        first, more = errors[0], len(errors) - 1
        loc = [str(p) for p in first["loc"]]
        known, shown = _walk(loc[:-1])
        key = ".".join([*shown, loc[-1]])
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {key!r}" + _did_you_mean(loc[-1], known)
        else:
            msg = f"{key}: {first['msg']} (got {first.get('input')!r})"
        tail = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        raise ConfigError(f"{where}: {msg}{tail}") from None


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _walk(path: list[str]) -> tuple[set[str], list[str]]:
    """The field names the config section at ``path`` (``["spec", "chunk"]``) accepts, and
    the path as a user writes it: a discriminated union's tag in pydantic's path
    (``extract.engine.openai``) picks that member and is not part of the key."""
    models: list[type[BaseModel]] = [ProjectConfig]
    shown = []
    for part in path:
        inner = [m for c in models if part in c.model_fields
                 for m in _models(c.model_fields[part].annotation)]
        if inner:
            shown.append(part)
        else:  # a union's tag, or a list index
            tagged = [c for c in models if "kind" in c.model_fields
                      and c.model_fields["kind"].default == part]
            inner = tagged or models
            if not tagged:
                shown.append(part)
        models = inner
    return {f for c in models for f in c.model_fields}, shown
