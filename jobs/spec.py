"""Ray job entrypoint for the corpus ("spec") stage.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/spec.py --workspace s3://bucket/project --corpus s3://bucket/corpus/

Thin by design: it parses arguments, attaches to the cluster the job runs on, and calls the
same stage function as ``proda spec``. It prints the stage manifest as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# In a Ray job the working directory is the uploaded repo; make the package importable from it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proda_ray.config import ProjectConfig, apply_overrides
from proda_ray.pipeline import build_stage
from proda_ray.runtime import ensure_ray
from proda_ray.workspace import Workspace, run_stage
from proda_ray.workspace.lease import Lease


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", required=True, help="Workspace directory or URI.")
    p.add_argument("--config", help="A proda.yaml to use instead of the workspace's own.")
    p.add_argument("--corpus", action="append", help="Corpus path/URI/glob (repeatable).")
    p.add_argument("--set", action="append", default=[], help="key=value config override.")
    p.add_argument("--address", help="Ray address (default: the job's cluster).")
    p.add_argument("--workers", type=int, help="Parallel tasks/actors.")
    p.add_argument("--force", action="store_true", help="Rebuild even if up to date.")
    args = p.parse_args(argv)

    ws = Workspace(args.workspace)
    if args.config:
        import yaml

        cfg = ProjectConfig.model_validate(yaml.safe_load(Path(args.config).read_text()) or {})
    else:
        cfg = ProjectConfig.load(ws)
    cfg = apply_overrides(cfg, args.set)
    if args.corpus:
        cfg.spec.corpus = args.corpus
    ensure_ray(args.address or cfg.ray.address, cfg.ray.num_cpus,
               placement=cfg.ray.placement, scalable_kinds=cfg.ray.scalable_kinds)
    with Lease(ws, "jobs/spec.py"):  # one writer: a second job exits with who holds it
        result = run_stage(ws, build_stage("spec", cfg, workers=args.workers),
                           force=args.force, show_progress=False)
    print(json.dumps({"status": result.status, "seconds": round(result.seconds, 2),
                      "manifest": result.manifest.model_dump(mode="json")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
