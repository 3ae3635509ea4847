"""Driver run on the 2-node test cluster: dedup across it vs in one task, on planted rows.

``python -m tests.spec.dedup_cluster_check ADDRESS WORKSPACE OUT.json`` (from the repo root)
writes whether both paths gave the same table and report, their counts, the cluster's live
nodes, and the nodes the Ray Data tasks ran on.
"""

from __future__ import annotations

import json
import sys


def main(address: str, ws_path: str, out: str) -> None:
    import ray

    from proda_ray.spec.config import SpecConfig
    from proda_ray.workspace import Workspace
    from tests.spec.test_dedup_ray import across, one_task, planted_rows, stage_files

    ray.init(address=address, logging_level="ERROR")
    ws = Workspace(ws_path)
    files = stage_files(ws, planted_rows(2), shards=4)
    cfg = SpecConfig(corpus=["unused"])
    want, want_report = one_task(ws, files, cfg)
    got, got_report = across(ws, files, cfg)
    try:
        from ray.util.state import list_tasks

        nodes = sorted({t.node_id for t in list_tasks(limit=10_000) if t.node_id})
    except Exception as e:  # the state API needs the dashboard: say so instead of failing
        nodes = [f"unknown: {type(e).__name__}: {e}"]
    result = {"equal": got.to_pylist() == want.to_pylist() and got_report == want_report,
              "report": want_report, "rows": got.num_rows,
              "live_nodes": len([n for n in ray.nodes() if n["Alive"]]), "task_nodes": nodes}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
