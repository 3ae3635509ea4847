"""Corpus ("spec") stage throughput: Ray with 1 and 2 workers vs a plain single process.

    python benchmarks/corpus.py [--corpus '../shared/corpora/openstax/*.jsonl.gz']
                                [--datatrove PATH/TO/python-with-datatrove]

The baseline calls the very same per-shard functions (spec/shards.py) in one process with
pyarrow I/O and no Ray, so the difference between the columns is scheduling and Ray overhead,
not different work. With ``--datatrove``, the same run also times datatrove's Gopher filters
and its 4-stage MinHash dedup on the same files and cores (benchmarks/datatrove_peer.py, in
that interpreter) against proda's quality pass and document near-dedup, one process each.
Prints tables and writes benchmarks/results/corpus.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import posixpath
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pyarrow as pa

from proda_ray.schema import CHUNKS, DOCUMENTS, REJECTED
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.disciplines import DisciplineClassifier, load_taxonomy
from proda_ray.spec.readers import list_corpus
from proda_ray.spec.shards import (
    CHUNK_STAGING,
    DOC_STAGING,
    DuplicateIndex,
    chunk_shard,
    dedup_rows,
    finalize_chunks,
    plan_shards,
    read_shard,
)
from proda_ray.tokenizer import load_tokenizer
from proda_ray.workspace import Workspace, run_stage

STEPS = ["read", "dedup_documents", "chunk", "dedup_chunks", "finalize"]
DEFAULT_CORPUS = str(Path(__file__).resolve().parents[2] / "shared/corpora/openstax/*.jsonl.gz")


def baseline(cfg: SpecConfig, root: str) -> tuple[dict[str, float], Counter]:
    """The same work, one process, no Ray: shard functions + pyarrow Parquet I/O."""
    ws = Workspace(root)
    t: dict[str, float] = {}
    c: Counter = Counter()
    shards = plan_shards(list_corpus(cfg.corpus), cfg.read.shard_bytes)
    taxonomy = load_taxonomy(cfg.disciplines.taxonomy)

    t0 = time.perf_counter()
    for s in shards:
        with ws.parquet_writers({"docs": (f"docs/{s.key}.parquet", DOC_STAGING),
                                 "rejected": (f"rej/{s.key}.parquet", REJECTED)}) as write:
            for out in read_shard(s, cfg, taxonomy, c):
                write(out)
    t["read"] = time.perf_counter() - t0

    def dedup(rel: str, id_col: str) -> DuplicateIndex:
        parts = []
        for f in ws.list_files(rel, suffix=".parquet"):
            tab = ws.read_parquet(f, columns=[id_col, "content_hash", "minhash"])
            key = posixpath.basename(f).removesuffix(".parquet")
            loc = pa.array([f"{key}:{i:09d}" for i in range(tab.num_rows)])
            parts.append(tab.append_column("locator", loc))
        dups, _ = dedup_rows(pa.concat_tables(parts), id_col, cfg)
        return DuplicateIndex.from_table(dups)

    t0 = time.perf_counter()
    doc_dups = dedup("docs", "doc_id")
    t["dedup_documents"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tok = load_tokenizer(cfg.chunk.tokenizer)
    clf = DisciplineClassifier(taxonomy, cfg.disciplines.min_score)
    for s in shards:
        with ws.parquet_writers({
            "documents": (f"documents/{s.key}.parquet", DOCUMENTS),
            "documents.rejected": (f"docrej/{s.key}.parquet", REJECTED),
            "chunks": (f"chunks/{s.key}.parquet", CHUNK_STAGING),
            "chunks.rejected": (f"chunkrej/{s.key}.parquet", REJECTED),
        }) as write:
            docs = ws.iter_parquet_batches(f"docs/{s.key}.parquet", batch_size=256)
            for out in chunk_shard(s.key, docs, doc_dups, cfg, tok, clf, c):
                write(out)
    t["chunk"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    chunk_dups = dedup("chunks", "chunk_id")
    t["dedup_chunks"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for s in shards:
        with ws.parquet_writers({"chunks": (f"final/{s.key}.parquet", CHUNKS),
                                 "chunks.rejected": (f"finalrej/{s.key}.parquet",
                                                     REJECTED)}) as write:
            staged = ws.iter_parquet_batches(f"chunks/{s.key}.parquet", batch_size=1024)
            for out in finalize_chunks(s.key, staged, chunk_dups, c):
                write(out)
    t["finalize"] = time.perf_counter() - t0
    return t, c


def components(cfg: SpecConfig, root: str) -> dict:
    """proda's quality pass and document near-dedup alone, one process, from the baseline's
    normalized documents: what datatrove's two pipelines do."""
    import numpy as np

    from proda_ray.spec.chunk import chunk_text
    from proda_ray.spec.dedup import exact_key, find_duplicates
    from proda_ray.spec.minhash import MinHasher
    from proda_ray.spec.quality import assess

    ws = Workspace(root)
    docs = pa.concat_tables([ws.read_parquet(f, columns=["doc_id", "text"])
                             for f in ws.list_files("documents", suffix=".parquet")])
    ids, texts = docs.column("doc_id").to_pylist(), docs.column("text").to_pylist()
    d, ch, q = cfg.dedup, cfg.chunk, cfg.quality
    t0 = time.perf_counter()
    h = MinHasher(d.num_bands * d.rows_per_band, d.seed, d.shingle_words)
    sigs = np.stack([h.signature(t) for t in texts])
    dups = find_duplicates(ids, [exact_key(t) for t in texts], sigs, d.num_bands,
                           d.rows_per_band, d.jaccard_threshold)
    near_dedup_s = time.perf_counter() - t0
    tok = load_tokenizer(ch.tokenizer)
    pieces = [p.text for t in texts for p in chunk_text(
        t, tok, ch.max_tokens, ch.overlap_tokens, int(ch.section_fill * ch.max_tokens),
        max_chars=ch.char_bound)]
    t0 = time.perf_counter()
    dropped = sum(assess(p, q.threshold, q.min_words)[2] is not None for p in pieces)
    quality_s = time.perf_counter() - t0
    return {"documents": len(ids), "near_dedup_s": near_dedup_s, "near_duplicates": len(dups),
            "quality_s": quality_s, "quality_chunks": len(pieces), "quality_dropped": dropped}


def peer(python: str, corpus: str, tmp: str, workers: int) -> dict:
    """datatrove's pipelines in their own interpreter (see datatrove_peer.py)."""
    import glob
    import subprocess

    files = sorted(glob.glob(corpus))
    folder = os.path.dirname(files[0])
    if any(os.path.dirname(f) != folder for f in files):
        sys.exit("--datatrove needs the corpus files in one directory")
    res = subprocess.run(
        [python, str(Path(__file__).with_name("datatrove_peer.py")), "--data", folder,
         "--glob", os.path.basename(corpus) if "*" in corpus else "*.jsonl.gz",
         "--tmp", tmp, "--workers", str(workers)],
        capture_output=True, text=True, check=False)
    if res.returncode:
        sys.exit(f"datatrove peer failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=DEFAULT_CORPUS)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--datatrove", metavar="PYTHON",
                   help="an interpreter with datatrove installed: time it in the same run")
    p.add_argument("--out", default=str(Path(__file__).with_name("results") / "corpus.json"))
    args = p.parse_args()
    cfg = SpecConfig(corpus=[args.corpus])
    files = list_corpus(cfg.corpus)
    if not files:
        sys.exit(f"no corpus files match {args.corpus}")

    results: dict = {"corpus": args.corpus, "files": len(files),
                     "compressed_bytes": sum(f.size for f in files), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        print("baseline (one process, no Ray)…", file=sys.stderr)
        t_base, c = baseline(cfg, f"{tmp}/baseline")
        results["runs"]["baseline"] = {"steps_s": t_base, "total_s": sum(t_base.values()),
                                       "chunks": c["chunks_kept"]}
        if args.datatrove:
            print("proda components (quality, near-dedup)…", file=sys.stderr)
            results["components"] = components(cfg, f"{tmp}/baseline")
            print(f"datatrove ({max(args.workers)} workers)…", file=sys.stderr)
            results["datatrove"] = peer(args.datatrove, args.corpus, f"{tmp}/datatrove",
                                        max(args.workers))
        import ray

        from proda_ray.runtime import ensure_ray

        t0 = time.perf_counter()
        ensure_ray(num_cpus=os.cpu_count())
        results["ray_init_s"] = time.perf_counter() - t0
        for n in args.workers:
            print(f"ray, {n} worker(s)…", file=sys.stderr)
            from proda_ray.spec.stage import SpecStage

            ws = Workspace(f"{tmp}/ray{n}")
            t0 = time.perf_counter()
            run = run_stage(ws, SpecStage(cfg, workers=n), show_progress=False)
            wall = time.perf_counter() - t0
            t0 = time.perf_counter()
            noop = run_stage(ws, SpecStage(cfg, workers=n), show_progress=False)
            m = run.manifest
            results["runs"][f"ray_{n}w"] = {
                "steps_s": m.timings_s, "total_s": wall, "noop_rerun_s":
                time.perf_counter() - t0, "noop_status": noop.status,
                "chunks": m.counters["chunks"], "documents": m.counters["documents"],
                "chars": m.counters["chars"], "rejected": m.rejected,
                "dedup": m.report["dedup"], "tokens": m.report["tokens"]}
        ray.shutdown()

    r = results["runs"]
    ray_runs = [k for k in r if k.startswith("ray_")]
    docs = r[ray_runs[0]]["documents"]
    mb = r[ray_runs[0]]["chars"] / 1e6
    results.update(documents=docs, text_mb=mb, machine={
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "ray": __import__("ray").__version__, "platform": platform.platform()})
    cols = ["baseline", *ray_runs]
    print(f"\nspec stage over {len(files)} files, {docs} documents, {mb:.1f} MB of text "
          f"(ray.init {results['ray_init_s']:.1f}s, not included)\n")
    head = f"{'step':<16}" + "".join(f"{c + ' s':>13}{'docs/s':>10}{'MB/s':>8}" for c in cols)
    print(head)
    print("-" * len(head))
    for step in [*STEPS, "total"]:
        row = f"{step:<16}"
        for col in cols:
            s = r[col]["total_s"] if step == "total" else r[col]["steps_s"].get(step, 0.0)
            row += f"{s:>13.2f}{docs / s if s else 0:>10.0f}{mb / s if s else 0:>8.1f}"
        print(row)
    print()
    for col in ray_runs:
        ratio = r[col]["total_s"] / r["baseline"]["total_s"]
        print(f"{col}: {ratio:.2f}x the baseline's time · no-op rerun "
              f"{r[col]['noop_rerun_s']:.2f}s ({r[col]['noop_status']}) · chunks "
              f"{r[col]['chunks']} (baseline {r['baseline']['chunks']})")
    if "datatrove" in results:
        _print_peer(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {args.out}")
    return 0


def _print_peer(results: dict) -> None:
    comp, dt = results["components"], results["datatrove"]
    n = comp["documents"]
    rows = [("quality filtering", comp["quality_s"], dt["quality_s"],
             f"proda: {comp['quality_chunks']} chunks scored, {comp['quality_dropped']} "
             f"dropped; datatrove Gopher rep.+quality: kept {dt['quality_kept']} docs"),
            ("near-dedup (documents)", comp["near_dedup_s"], dt["minhash_s"],
             f"proda: {comp['near_duplicates']} duplicates; datatrove 4-stage "
             f"MinHash: kept {dt['minhash_kept']}")]
    ratios = {}
    print(f"\nsame run, same cores: proda one process vs datatrove {dt['datatrove']} "
          f"with {dt['workers']} tasks/workers ({n} documents)\n")
    print(f"{'step':<24}{'proda s':>9}{'docs/s':>9}{'datatrove s':>13}{'docs/s':>9}"
          f"{'ratio':>8}")
    for name, ours, theirs, note in rows:
        ratios[name] = theirs / ours
        print(f"{name:<24}{ours:>9.2f}{n / ours:>9.0f}{theirs:>13.2f}{n / theirs:>9.0f}"
              f"{theirs / ours:>7.1f}x   {note}")
    results["peer_ratios"] = ratios


if __name__ == "__main__":
    sys.exit(main())
