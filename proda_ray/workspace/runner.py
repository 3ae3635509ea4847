"""Run a stage with build-system semantics: skip when up to date, resume when interrupted.

1. Compute the fingerprint from the stage name, its code version (the source of its module's
   import closure inside proda_ray), its config, the fingerprints of the tables it reads
   (taken from their producers' manifests) and of its external inputs.
2. If the committed manifest has that fingerprint and its tables exist: nothing to do.
3. If an earlier run with that fingerprint committed (say, before a config change that was
   reverted), promote it: no recomputation.
4. Otherwise run the stage in ``stages/<name>/runs/<fingerprint>`` on the executor (Ray by
   default); units finished by an interrupted run with the same fingerprint are reused.
5. Write the run's manifest, then the stage's ``manifest.json`` (the commit point).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from proda_ray import __version__
from proda_ray.workspace.fingerprint import closure_fingerprint, fingerprint
from proda_ray.workspace.manifest import StageManifest
from proda_ray.workspace.stage import Stage, StageContext
from proda_ray.workspace.storage import Workspace

if TYPE_CHECKING:
    from proda_ray.executors.base import Executor

log = logging.getLogger(__name__)


@dataclass
class StageRun:
    manifest: StageManifest
    status: str  # "built" | "up-to-date" | "restored"
    seconds: float


def manifest_path(stage: str) -> str:
    return f"stages/{stage}/manifest.json"


def run_manifest_path(stage: str, fp: str) -> str:
    return f"stages/{stage}/runs/{fp}/manifest.json"


def read_manifest(ws: Workspace, stage: str) -> StageManifest | None:
    rel = manifest_path(stage)
    return StageManifest.model_validate(ws.read_json(rel)) if ws.exists(rel) else None


def committed_manifests(ws: Workspace) -> dict[str, StageManifest]:
    """Every stage's committed manifest, by stage name."""
    out = {}
    for rel in ws.list_files("stages", suffix="manifest.json"):
        parts = rel.split("/")
        if len(parts) == 3:  # stages/<name>/manifest.json (not runs/<fp>/manifest.json)
            out[parts[1]] = StageManifest.model_validate(ws.read_json(rel))
    return out


def table_producers(ws: Workspace) -> dict[str, StageManifest]:
    """Table name -> the committed manifest of the stage that produced it."""
    return {t: m for m in committed_manifests(ws).values() for t in m.outputs}


def missing_inputs(ws: Workspace, stage: Stage) -> str | None:
    """Why ``stage`` cannot run yet (the tables no stage has produced), or None."""
    producers = table_producers(ws)
    missing = [t for t in stage.inputs if t not in producers]
    if not missing:
        return None
    return (f"stage {stage.name!r} reads {', '.join(map(repr, missing))}, which no stage has "
            f"produced in {ws.uri} yet; run the upstream stage first (see `proda status`)")


def input_fingerprints(ws: Workspace, stage: Stage) -> dict[str, str]:
    if missing := missing_inputs(ws, stage):
        raise RuntimeError(missing)
    producers = table_producers(ws)
    fps = {}
    for table in stage.inputs:
        fps[f"table:{table}"] = producers[table].fingerprint
    fps.update({f"ext:{k}": v for k, v in stage.external_inputs().items()})
    return fps


def _outputs_exist(ws: Workspace, manifest: StageManifest) -> bool:
    return all(ws.exists(info.path) or info.rows == 0 for info in manifest.outputs.values())


def stage_fingerprint(ws: Workspace, stage: Stage) -> tuple[str, str, dict[str, str], dict]:
    code = stage_code_version(stage)
    config = stage.config.model_dump(mode="json")
    inputs = input_fingerprints(ws, stage)
    return fingerprint(stage.name, code, config, inputs), code, inputs, config


def _finished_run(ws: Workspace, stage: Stage, fp: str) -> tuple[StageManifest, str] | None:
    """The committed run of fingerprint ``fp`` whose outputs still exist, as ``(manifest,
    "up-to-date")`` when it is the current one or ``(manifest, "restored")`` when an earlier
    run can be restored; None when the stage has to run."""
    current = read_manifest(ws, stage.name)
    if current and current.fingerprint == fp and _outputs_exist(ws, current):
        return current, "up-to-date"
    earlier = run_manifest_path(stage.name, fp)
    if ws.exists(earlier):
        manifest = StageManifest.model_validate(ws.read_json(earlier))
        if _outputs_exist(ws, manifest):
            return manifest, "restored"
    return None


def pending(ws: Workspace, stage: Stage, force: bool = False) -> bool:
    """Whether ``run_stage`` would run ``stage`` (rather than find it up to date or restore
    an earlier run): a command starts Ray only for a stage that is pending."""
    return force or _finished_run(ws, stage, stage_fingerprint(ws, stage)[0]) is None


def stage_code_version(stage: Stage) -> str:
    """The hash of the stage module's import closure (plus any ``code_modules``)."""
    return closure_fingerprint(type(stage).__module__, *stage.code_modules)


def run_stage(
    ws: Workspace, stage: Stage, *, force: bool = False, show_progress: bool = True,
    executor: Executor | None = None, guard: Callable[[], None] | None = None,
) -> StageRun:
    """Bring ``stage`` up to date in ``ws``; see the module docstring for the rules.
    ``guard()`` runs just before the commit and may raise to stop it (the CLI's lease: a
    run that lost its workspace to another commits nothing)."""
    t0 = time.perf_counter()
    fp, code, inputs, config = stage_fingerprint(ws, stage)

    found = None if force else _finished_run(ws, stage, fp)
    if found and found[1] == "up-to-date":
        log.info("%s: up to date (fingerprint %s)", stage.name, fp)
        return StageRun(found[0], "up-to-date", time.perf_counter() - t0)
    if found:
        ws.write_json(manifest_path(stage.name), found[0].model_dump(mode="json"))
        log.info("%s: restored earlier run %s", stage.name, fp)
        return StageRun(found[0], "restored", time.perf_counter() - t0)

    if executor is None:
        from proda_ray.executors import RayExecutor

        executor = RayExecutor()
    producers = table_producers(ws)
    ctx = StageContext(workspace=ws, stage=stage.name, fingerprint=fp, show_progress=show_progress,
                       inputs={t: producers[t].outputs[t] for t in stage.inputs},
                       executor=executor, resources=stage.resources())
    executor.prepare(show_progress)
    if force:
        ws.delete(ctx.scratch)
        for table in stage.outputs:
            ws.delete(ctx.table_dir(table))
            ws.delete(ctx.table_dir(f"{table}.rejected"))
    started = StageManifest.now()
    result = stage.run(ctx)
    manifest = StageManifest(
        stage=stage.name,
        fingerprint=fp,
        code_version=code,
        proda_version=__version__,
        config=config,
        inputs=inputs,
        outputs=result.outputs,
        counters=dict(result.counters),
        rejected={t: dict(sorted(c.items())) for t, c in result.rejected.items()},
        timings_s={k: round(v, 3) for k, v in result.timings_s.items()},
        usage=result.usage,
        run_usage=result.run_usage if result.run_usage is not None else result.usage,
        report=(result.report.model_dump(mode="json")
                if isinstance(result.report, BaseModel) else result.report),
        cluster=executor.cluster_info(),
        started_at=started,
        finished_at=StageManifest.now(),
    )
    payload = manifest.model_dump(mode="json")
    if guard is not None:
        guard()
    ws.write_json(run_manifest_path(stage.name, fp), payload)
    ws.write_json(manifest_path(stage.name), payload)  # the commit point
    return StageRun(manifest, "built", time.perf_counter() - t0)


def stage_status(ws: Workspace, manifests: dict[str, StageManifest] | None = None
                 ) -> dict[str, dict]:
    """Every committed stage with its freshness: stale if an input table was rebuilt since.
    ``manifests``: the committed manifests, when the caller has read them already."""
    manifests = committed_manifests(ws) if manifests is None else manifests
    producers = {t: m for m in manifests.values() for t in m.outputs}
    out = {}
    for name, m in manifests.items():
        stale_inputs = [
            key
            for key, fp in m.inputs.items()
            if key.startswith("table:")
            and (p := producers.get(key.removeprefix("table:"))) is not None
            and p.fingerprint != fp
        ]
        out[name] = {
            "fingerprint": m.fingerprint,
            "state": "stale" if stale_inputs else "fresh",
            "stale_inputs": stale_inputs,
            "finished_at": m.finished_at,
            "tables": {t: info.model_dump() for t, info in m.outputs.items()},
            "counters": m.counters,
            "rejected": m.rejected,
            "rejected_total": m.rejected_total(),
            "timings_s": m.timings_s,
            "usage": m.usage.model_dump(),
            "report": m.report,
        }
    return out
