"""Ray job entrypoint for any run of stages of the loop (each skipped when up to date).

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/loop.py --workspace s3://bucket/project --rounds 2

Thin by design, like ``jobs/spec.py``: it attaches to the job's cluster and runs the same
loop as ``proda run`` (``--stages`` picks a subset). It prints one JSON object per stage
(status, seconds, counters) and, when the loop evaluated, the report's path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proda_ray.config import ProjectConfig, apply_overrides
from proda_ray.loop import run_loop
from proda_ray.report import write_report
from proda_ray.runtime import ensure_ray
from proda_ray.workspace import Workspace
from proda_ray.workspace.lease import Lease


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", required=True, help="Workspace directory or URI.")
    p.add_argument("--stages", help="Comma-separated subset of spec, extract, merge, bench, "
                   "build, train, eval, debug (default: loop.stages; all of them).")
    p.add_argument("--rounds", type=int, help="Train/eval rounds (default: loop.rounds).")
    p.add_argument("--set", action="append", default=[], help="key=value config override.")
    p.add_argument("--address", help="Ray address (default: the job's cluster).")
    p.add_argument("--workers", type=int, help="Parallel tasks/actors.")
    args = p.parse_args(argv)
    ws = Workspace(args.workspace)
    cfg = apply_overrides(ProjectConfig.load(ws), args.set)
    if args.stages:
        cfg.loop.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if args.rounds:
        cfg.loop.rounds = args.rounds
    ensure_ray(args.address or cfg.ray.address, cfg.ray.num_cpus,
               placement=cfg.ray.placement, scalable_kinds=cfg.ray.scalable_kinds)

    def line(name, r):
        print(json.dumps({"stage": name, "status": r.status, "seconds": round(r.seconds, 2),
                          "counters": dict(r.manifest.counters)}), flush=True)

    with Lease(ws, "jobs/loop.py"):  # one writer: a second job exits with who holds it
        run_loop(ws, cfg, workers=args.workers or cfg.ray.workers, show_progress=False,
                 on_stage=line)
        if "eval" in cfg.loop.stages:
            print(json.dumps({"report": write_report(ws)["report.md"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
