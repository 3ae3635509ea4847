"""The spec dedup both ways on one staged run: one task vs Ray Data across the cluster.

    python benchmarks/dedup_paths.py RUN_DIR [--address ADDR] [--workers 2]
                                     [--out benchmarks/results/dedup_paths.json]

``RUN_DIR`` is a spec run's scratch directory (``<workspace>/stages/spec/runs/<fingerprint>``,
e.g. from ``benchmarks/scale.py --keep-workspace``) with its staged ``p1/docs`` and/or
``p3/chunks``. For each, it times the single-task dedup (``shards.dedup_rows``, what the stage
runs below ``distributed_min_rows``) and ``dedup_ray.find_duplicates_ray``, and checks that
both give the same table and report. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import posixpath
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import pyarrow as pa

from proda_ray.spec.config import SpecConfig
from proda_ray.spec.dedup_ray import find_duplicates_ray
from proda_ray.spec.shards import dedup_rows, duplicates_table
from proda_ray.workspace import Workspace

TABLES = {"documents": ("p1/docs", "doc_id"), "chunks": ("p3/chunks", "chunk_id")}


def one_task(ws: Workspace, files: list[tuple[str, str]], id_col: str, cfg: SpecConfig):
    parts = []
    for f, shard in files:
        t = ws.read_parquet(f, columns=[id_col, "content_hash", "minhash"])
        parts.append(t.append_column("locator", pa.array(
            [f"{shard}:{i:09d}" for i in range(t.num_rows)], pa.string())))
    return dedup_rows(pa.concat_tables(parts), id_col, cfg)


def across(ws: Workspace, files: list[tuple[str, str]], id_col: str, cfg: SpecConfig,
           partitions: int):
    d = cfg.dedup
    id_drops, found = find_duplicates_ray(
        ws, files, id_col, enabled=d.enabled, num_bands=d.num_bands,
        rows_per_band=d.rows_per_band, threshold=d.jaccard_threshold, partitions=partitions)
    n = sum(ws.count_rows(f) for f, _ in files)
    return duplicates_table(id_drops + [{**x.__dict__, "locator": None} for x in found], n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--address", default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "dedup_paths.json"))
    a = ap.parse_args(argv)
    import ray

    from proda_ray.runtime import ensure_ray

    ensure_ray(a.address, a.workers)
    ws, cfg = Workspace(a.run_dir), SpecConfig(corpus=["unused"])
    res: dict = {"run_dir": a.run_dir, "tables": {}}
    for table, (rel, id_col) in TABLES.items():
        files = [(f, posixpath.basename(f).removesuffix(".parquet"))
                 for f in ws.list_files(rel, suffix=".parquet")]
        if not files:
            continue
        print(f"{table}: {len(files)} files…", file=sys.stderr)
        t0 = time.perf_counter()
        want, want_report = one_task(ws, files, id_col, cfg)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        got, got_report = across(ws, files, id_col, cfg, 2 * a.workers)
        t_across = time.perf_counter() - t0
        res["tables"][table] = {
            "rows": want_report["rows"], "report": want_report, "one_task_s": t_one,
            "ray_data_s": t_across, "identical": got.to_pylist() == want.to_pylist()
            and got_report == want_report}
    res["cluster"] = {"nodes": len([n for n in ray.nodes() if n["Alive"]]),
                      "cpus": ray.cluster_resources().get("CPU")}
    res["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                      "ray": ray.__version__}
    ray.shutdown()
    print(f"\n{'table':<11}{'rows':>10}{'dups':>8}{'one task s':>12}{'ray data s':>12}"
          f"{'identical':>11}")
    for table, r in res["tables"].items():
        dups = sum(v for k, v in r["report"].items() if k.endswith("duplicate")
                   or k == "duplicate_id")
        print(f"{table:<11}{r['rows']:>10}{dups:>8}{r['one_task_s']:>12.1f}"
              f"{r['ray_data_s']:>12.1f}{r['identical']!s:>11}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))
    print(f"\nwrote {a.out}")
    return 0 if all(r["identical"] for r in res["tables"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
