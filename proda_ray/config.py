"""The project config: ``proda.yaml`` at the workspace root <-> pydantic.

Each stage has its own section; the file is the source of truth for a project, and CLI flags
override it for one invocation (``--set spec.chunk.max_tokens=512`` reaches any field).
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, field_validator

from proda_ray.builder.config import BuildConfig
from proda_ray.compile.config import TrainConfig, load_preset
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


class RayConfig(BaseModel):
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


class ProjectConfig(BaseModel):
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
        if not ws.exists(CONFIG_FILE):
            return cls()
        data = yaml.safe_load(ws.read_bytes(CONFIG_FILE)) or {}
        return cls.model_validate(data)

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
            node = node[p]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise ValueError(f"--set {key}: unknown field {parts[-1]!r}")
        node[parts[-1]] = yaml.safe_load(raw)
    return ProjectConfig.model_validate(data)
