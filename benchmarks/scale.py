"""The spec stage at the paper's scale: a synthetic corpus with planted duplicates, on Ray.

    python benchmarks/scale.py [--docs 117000] [--corpus-dir DIR] [--workers 2]
                               [--dedup auto|always|never] [--out benchmarks/results/scale.json]

Generates the corpus (``benchmarks/synth_corpus.py``; kept in ``--corpus-dir`` and reused when
its counts match), runs the whole spec stage on a local Ray with ``--workers`` workers, and
samples the resident memory of the driver and of every Ray worker process every half second.
Prints per step the seconds, documents/s and MB/s of text; the peak RSS of the driver, of the
unit workers (read, chunk, finalize) and of the dedup step; and the document dedup's precision
and recall against the planted duplicates. Writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, synth_corpus
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import psutil
import synth_corpus

from proda_ray.spec.config import SpecConfig
from proda_ray.workspace import Workspace, run_stage

STEPS = ["read", "dedup_documents", "chunk", "dedup_chunks", "finalize"]


class MemoryWatch:
    """Peak RSS by process role, sampled from a thread: the driver, and each worker of the
    driver's own local Ray by the task or actor its process title names at the time."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak = interval, defaultdict(int)
        self.private = defaultdict(int)  # RSS less shared pages (the object store's, libs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            # this driver and its own local Ray's processes (gcs, raylet, and the workers
            # under it): never another Ray's on the same machine
            for p in [me, *me.children(recursive=True)]:
                try:
                    title = " ".join(p.cmdline())
                    info = p.memory_info()
                except psutil.Error:
                    continue
                rss, own = info.rss, info.rss - getattr(info, "shared", 0)
                if p.pid == me.pid:
                    role = "driver"
                elif title.startswith("ray::"):
                    role = _role(title)
                else:
                    continue
                self.peak[role] = max(self.peak[role], rss)
                self.private[role] = max(self.private[role], own)


def _role(title: str) -> str:
    t = title.split()[0]
    if "_dedup" in t or "Shuffle" in t or "Aggregat" in t or "Join" in t:
        return "dedup step"
    if t in ("ray::IDLE", "ray::IDLE_SPILL_WORKER"):
        return "idle worker"
    return "unit workers"


def planted_scores(ws: Workspace, manifest, truth_path: Path, threshold: float) -> dict:
    """Document dedup against the planted duplicates. A document's predicted group is the
    document it was dropped for (itself when kept), its true group the base document it
    copies (itself when not a copy). Precision: of the documents dropped as duplicates, the
    share whose kept document is of their true group. Recall: of the planted copies, the
    share in the same predicted group as their base (whichever of the two was kept: the kept
    one is the smallest ``doc_id``, a hash). Recall counts the exact copies and the near
    copies whose true Jaccard reaches the threshold; near copies below it are reported
    apart (finding them is neither required nor wrong)."""
    rows = [json.loads(x) for x in truth_path.read_text().splitlines()]
    copies = [r for r in rows if r["kind"] in ("exact", "near")]
    planted = [r for r in copies if r["kind"] == "exact" or r["jaccard"] >= threshold]
    below = [r for r in copies if r["kind"] == "near" and r["jaccard"] < threshold]
    related = [r["id"] for r in rows if r["kind"] == "related"]  # not duplicates
    truth = {r["id"]: r["of"] for r in copies}
    docs = ws.read_parquet(manifest.outputs["documents"].path, columns=["doc_id", "source_id"])
    source = dict(zip(docs.column(0).to_pylist(), docs.column(1).to_pylist(), strict=True))
    rej = ws.read_parquet(manifest.outputs["documents.rejected"].path,
                          columns=["source_id", "reason", "duplicate_of"]).to_pylist()
    dropped = [r for r in rej if r["reason"] in ("exact_duplicate", "near_duplicate")]
    pred = {r["source_id"]: source.get(r["duplicate_of"]) for r in dropped}
    right = sum(truth.get(d, d) == truth.get(k, k) for d, k in pred.items())
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in planted:
        hit = pred.get(r["id"], r["id"]) == pred.get(r["of"], r["of"])
        by_kind[r["kind"]][0] += hit
        by_kind[r["kind"]][1] += 1
    found = sum(f for f, _ in by_kind.values())
    missed = [{"id": r["id"], "of": r["of"], "kind": r["kind"], "jaccard": r["jaccard"]}
              for r in planted if pred.get(r["id"], r["id"]) != pred.get(r["of"], r["of"])]
    return {"dropped": len(dropped), "right": right, "planted": len(planted),
            "near_below_threshold": len(below), "near_below_threshold_found":
            sum(pred.get(r["id"], r["id"]) == pred.get(r["of"], r["of"]) for r in below),
            "near_jaccard_min": min((r["jaccard"] for r in copies if r["kind"] == "near"),
                                    default=None),
            "related": len(related), "related_dropped": sum(r in pred for r in related),
            "found": found,
            "precision": right / len(dropped) if dropped else 1.0,
            "recall": found / len(planted) if planted else 1.0,
            "recall_by_kind": {k: f / n for k, (f, n) in sorted(by_kind.items())},
            "missed": missed,
            "wrong": [{"id": d, "kept": k} for d, k in pred.items()
                      if truth.get(d, d) != truth.get(k, k)][:50],
            "other_rejections": {k: v for k, v in Counter(r["reason"] for r in rej).items()
                                 if k not in ("exact_duplicate", "near_duplicate")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=117_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus-dir", default=None, help="default: a temporary directory")
    ap.add_argument("--source", default=synth_corpus.DEFAULT_SOURCE)
    ap.add_argument("--docs-per-file", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dedup", default="auto", choices=["auto", "always", "never"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    ap.add_argument("--keep-workspace", default=None,
                    help="write the workspace here (kept) instead of a temporary directory; "
                    "benchmarks/dedup_paths.py reads its staged run")
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(a.corpus_dir or f"{tmp}/corpus")
        counts_file = corpus / "counts.json"
        t0 = time.perf_counter()
        if counts_file.exists() and json.loads(counts_file.read_text())["documents"] == a.docs:
            counts, gen_s = json.loads(counts_file.read_text()), None
        else:
            print(f"generating {a.docs} documents in {corpus}…", file=sys.stderr)
            counts = synth_corpus.write_corpus(corpus, a.docs, a.seed, a.source,
                                               a.docs_per_file)
            gen_s = time.perf_counter() - t0
        import ray

        from proda_ray.runtime import ensure_ray
        from proda_ray.spec.stage import SpecStage

        ensure_ray(num_cpus=a.workers)
        cfg = SpecConfig(corpus=[str(corpus / "*.jsonl.gz")])
        cfg.dedup.distributed = a.dedup
        ws = Workspace(a.keep_workspace or f"{tmp}/ws")
        print(f"spec stage, {a.workers} workers…", file=sys.stderr)
        with MemoryWatch() as mem:
            t0 = time.perf_counter()
            run = run_stage(ws, SpecStage(cfg, workers=a.workers), show_progress=False)
            wall = time.perf_counter() - t0
        m = run.manifest
        scores = planted_scores(ws, m, corpus / "truth.jsonl", cfg.dedup.jaccard_threshold)
        ray.shutdown()

    mb = counts["chars"] / 1e6
    docs = a.docs
    res = {
        "documents": docs, "text_mb": mb, "files": counts["files"], "generate_s": gen_s,
        "source": counts["source"],
        "workers": a.workers, "dedup_backend": {k: v.get("backend") for k, v in
                                                m.report["dedup"].items()},
        "wall_s": wall, "steps_s": m.timings_s,
        "peak_rss_mb": {k: v / 2**20 for k, v in sorted(mem.peak.items())},
        "peak_private_mb": {k: v / 2**20 for k, v in sorted(mem.private.items())},
        "counters": {k: m.counters.get(k) for k in ("documents", "chunks", "shards")},
        "rejected": m.rejected, "dedup": m.report["dedup"], "planted": scores,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "ray": ray.__version__, "platform": platform.platform(),
                    "memory_gb": psutil.virtual_memory().total / 2**30},
    }
    print(f"\nspec stage over {docs} synthetic documents ({mb:.0f} MB of text, "
          f"{counts['files']} files, made from {counts['source']}), {a.workers} workers\n")
    print(f"{'step':<16}{'s':>10}{'docs/s':>10}{'MB/s':>8}")
    for step in [*STEPS, "total (wall)"]:
        s = wall if step.startswith("total") else m.timings_s.get(step, 0.0)
        print(f"{step:<16}{s:>10.1f}{docs / s if s else 0:>10.0f}{mb / s if s else 0:>8.2f}")
    print("\npeak RSS (MB): " + ", ".join(f"{k} {v:.0f}"
                                          for k, v in res["peak_rss_mb"].items()))
    print("peak RSS less shared pages (MB): " + ", ".join(
        f"{k} {v:.0f}" for k, v in res["peak_private_mb"].items()))
    print(f"kept {m.counters['documents']} documents, {m.counters['chunks']} chunks; "
          f"dedup backend {res['dedup_backend']}")
    print(f"planted duplicates: {scores['planted']} ({counts['exact']} exact, "
          f"{counts['near']} near, true Jaccard >= {cfg.dedup.jaccard_threshold}); "
          f"dropped as duplicates {scores['dropped']}; "
          f"precision {scores['precision']:.4f}, recall {scores['recall']:.4f} "
          f"(by kind {scores['recall_by_kind']}); near copies below the threshold "
          f"{scores['near_below_threshold']} (found {scores['near_below_threshold_found']});"
          f" related (not duplicates) dropped "
          f"{scores['related_dropped']} of {scores['related']}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2, default=str))
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
