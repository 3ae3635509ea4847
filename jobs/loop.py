"""Ray job entrypoint for any run of stages of the loop (each skipped when up to date).

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/loop.py --workspace s3://bucket/project --stages extract,merge,bench,build

Thin by design, like ``jobs/spec.py``: it attaches to the job's cluster and calls the same
stages as ``proda run``. It prints one JSON object per stage (status, seconds, counters).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proda_ray.config import ProjectConfig, apply_overrides
from proda_ray.runtime import ensure_ray
from proda_ray.workspace import Workspace, run_stage

ORDER = ("spec", "extract", "merge", "bench", "build")


def make_stage(name: str, cfg: ProjectConfig, workers: int | None):
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
    raise SystemExit(f"unknown stage {name!r}; known: {', '.join(ORDER)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", required=True, help="Workspace directory or URI.")
    p.add_argument("--stages", default=",".join(ORDER), help="Comma-separated, in order.")
    p.add_argument("--set", action="append", default=[], help="key=value config override.")
    p.add_argument("--address", help="Ray address (default: the job's cluster).")
    p.add_argument("--workers", type=int, help="Parallel tasks/actors.")
    p.add_argument("--force", action="store_true", help="Rebuild even if up to date.")
    args = p.parse_args(argv)
    ws = Workspace(args.workspace)
    cfg = apply_overrides(ProjectConfig.load(ws), args.set)
    ensure_ray(args.address or cfg.ray.address, cfg.ray.num_cpus)
    for name in [s.strip() for s in args.stages.split(",") if s.strip()]:
        r = run_stage(ws, make_stage(name, cfg, args.workers or cfg.ray.workers),
                      force=args.force, show_progress=False)
        print(json.dumps({"stage": name, "status": r.status, "seconds": round(r.seconds, 2),
                          "counters": dict(r.manifest.counters)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
