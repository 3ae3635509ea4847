"""Placement by declared resources: node kinds as Ray logical resources.

A cluster's nodes say what they are for by advertising one logical resource per kind:
``proda_cpu`` (spec, bench, build: many CPUs), ``proda_inference`` (extraction and evaluation
replicas: GPUs such as L4/A10G) and ``proda_train`` (8-GPU training nodes), each with the value
1 (``ray start --resources='{"proda_inference": 1}'``, or the node type's ``resources`` in a
launcher config or a KubeRay group's ``rayStartParams``). A stage's unit of work then asks for
a thousandth of its kind, so any number of its tasks fit on a node (CPUs and GPUs still bound
them) and none lands elsewhere; the autoscaler sees the demand and scales the right group.
"""

from __future__ import annotations

import os

NODE_KINDS = ("cpu", "inference", "train")
KIND_REQUEST = 0.001  # what one task or actor asks of its kind's resource (a node has 1)


def kind_resource(kind: str) -> str:
    """The logical resource a node of ``kind`` advertises (``proda_inference``)."""
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown node kind {kind!r}; known: {', '.join(NODE_KINDS)}")
    return f"proda_{kind}"


def accelerator_resource(accelerator_type: str) -> str:
    """Ray's resource for an accelerator type (``accelerator_type:L4``), which Ray sets on
    GPU nodes it detects and a launcher config declares for the autoscaler."""
    return f"accelerator_type:{accelerator_type}"


MODES = ("auto", "kinds", "off")
SCALABLE_ENV = "PRODA_SCALABLE_KINDS"  # set on a cluster's head: kinds its autoscaler adds


class PlacementError(RuntimeError):
    """The work asks for a kind of node this cluster does not have and cannot add."""


class Placement:
    """Whether node kinds are in force on the connected cluster, and what it can host.

    ``mode``: ``kinds`` always asks for the node kind; ``off`` never; ``auto`` (the default)
    asks when the cluster uses kinds: a live node advertises one, or the head declares in
    ``PRODA_SCALABLE_KINDS`` (or ``ray.scalable_kinds``) the kinds its autoscaler can add.
    A request that neither a live node nor a scalable group can meet fails at once, with
    what the cluster has, instead of waiting forever for a node that never comes."""

    def __init__(self, mode: str = "auto", scalable: list[str] | tuple[str, ...] = ()):
        if mode not in MODES:
            raise ValueError(f"ray.placement must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        env = [k.strip() for k in os.environ.get(SCALABLE_ENV, "").split(",") if k.strip()]
        self.scalable = tuple(dict.fromkeys([*scalable, *env]))
        for k in self.scalable:
            kind_resource(k)  # unknown kinds are a config error, said at once
        self._active: bool | None = None

    @staticmethod
    def _nodes() -> list[dict]:
        import ray

        if not ray.is_initialized():  # no cluster to ask: nothing advertises a kind
            return []
        return [n for n in ray.nodes() if n.get("Alive")]

    def active(self) -> bool:
        """Whether work asks for its node kind (decided once per process)."""
        if self._active is None:
            if self.mode != "auto":
                self._active = self.mode == "kinds"
            elif self.scalable:
                self._active = True
            else:
                nodes = self._nodes()
                kinds = {kind_resource(k) for k in NODE_KINDS}
                if not nodes:
                    return False  # asked before Ray is up: decide once it is
                self._active = any(kinds & set(n.get("Resources", {})) for n in nodes)
        return self._active

    def demand(self, kind: str, *, cpus: float = 0, gpus: float = 0,
               accelerator_type: str | None = None, memory_gb: float | None = None,
               ) -> dict[str, float]:
        """The resources one task or actor of ``kind`` asks for (CPUs and GPUs included)."""
        need = {"CPU": float(cpus)} if cpus else {}
        if gpus:
            need["GPU"] = float(gpus)
        if memory_gb:
            need["memory"] = float(memory_gb) * 2**30
        if self.active():
            need[kind_resource(kind)] = KIND_REQUEST
        if accelerator_type:
            need[accelerator_resource(accelerator_type)] = KIND_REQUEST
        return need

    def check(self, what: str, kind: str, need: dict[str, float]) -> None:
        """Refuse ``need`` at once when no live node can take it and no scalable group of
        ``kind`` can be added (only where kinds are in force: elsewhere Ray and its
        autoscaler place the work as they always do)."""
        if not self.active():
            return
        nodes = self._nodes()
        if any(all(n.get("Resources", {}).get(k, 0) >= v for k, v in need.items())
               for n in nodes):
            return
        if kind in self.scalable:
            return  # the autoscaler adds that group (its own validator checked its shape)
        have = "; ".join(_describe(n.get("Resources", {})) for n in nodes) or "no live node"
        asks = ", ".join(f"{k} {v:g}" for k, v in sorted(need.items()) if k != "memory")
        if "memory" in need:
            asks += f", memory {need['memory'] / 2**30:g} GiB"
        raise PlacementError(
            f"{what} needs a '{kind}' node ({asks}) but no node of this cluster has that and "
            f"none can be added (nodes: {have}). Start one with `ray start --resources="
            f"'{{\"{kind_resource(kind)}\": 1}}'` (see cluster/), declare the kinds the "
            f"autoscaler adds in {SCALABLE_ENV}, or set ray.placement=off.")


def remote_args(need: dict[str, float]) -> dict:
    """``demand``'s resources as Ray task/actor options (``num_cpus``, ``resources``...)."""
    out: dict = {"num_cpus": need.get("CPU", 0)}
    if need.get("GPU"):
        out["num_gpus"] = need["GPU"]
    if need.get("memory"):
        out["memory"] = need["memory"]
    custom = {k: v for k, v in need.items() if k not in ("CPU", "GPU", "memory")}
    if custom:
        out["resources"] = custom
    return out


def _describe(res: dict) -> str:
    kinds = [k.removeprefix("proda_") for k in res if k.startswith("proda_")]
    acc = [k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")]
    parts = [f"{res.get('CPU', 0):g} CPU"]
    if res.get("GPU"):
        parts.append(f"{res['GPU']:g} GPU" + (f" {'/'.join(acc)}" if acc else ""))
    return f"{'+'.join(kinds) or 'no kind'} ({', '.join(parts)})"


_current = Placement()


def configure(mode: str = "auto", scalable: list[str] | tuple[str, ...] = ()) -> Placement:
    """Set the placement of this process's stages (``ensure_ray`` calls it)."""
    global _current
    _current = Placement(mode, scalable)
    return _current


def current() -> Placement:
    return _current
