"""The corpus ("spec") stage on Ray Data: raw files -> documents + chunks, resumable.

Five phases, each committed shard by shard in the run's scratch directory:

1. read       (stateless units)  files -> normalized documents + MinHash, rejections
2. doc dedup  (one step)         exact + near-duplicate documents across the corpus
3. chunk      (stateful units)   drop duplicate docs, tag disciplines (MiniLM), chunk, score
4. chunk dedup(one step)         exact + near-duplicate chunks across the corpus
5. finalize   (stateless units)  drop duplicate chunks; write the final tables

On Ray, stateless units are a task pool, stateful ones an actor pool, steps one task each.

A shard's output files are written before its ``.done.json`` marker, so a killed run resumes
with exactly the shards that had not finished; the driver only ever holds shard summaries and
the narrow dedup columns, never the corpus text.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from proda_ray.executors import UnitWorker
from proda_ray.schema import CHUNKS, DOCUMENTS, REJECTED
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.readers import list_corpus
from proda_ray.spec.shards import (
    CHUNK_STAGING,
    DOC_STAGING,
    DuplicateIndex,
    Shard,
    chunk_shard,
    dedup_rows,
    duplicates_table,
    finalize_chunks,
    plan_shards,
    read_shard,
)
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageFiles, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

log = logging.getLogger(__name__)


class SpecStage(Stage[SpecConfig]):
    """Corpus files -> ``documents``, ``chunks`` (and their ``.rejected`` tables)."""

    name = "spec"
    config_model = SpecConfig
    inputs = ()
    outputs = ("documents", "chunks")

    def __init__(self, config: SpecConfig, *, workers: int | None = None,
                 on_phase: Callable[[str], None] | None = None):
        super().__init__(config)
        if not config.corpus:
            raise ValueError("spec: no corpus paths given")
        self.workers = workers
        self.on_phase = on_phase or (lambda msg: log.info(msg))
        self._files = None
        self._corpus_fp: str | None = None

    def resources(self) -> Resources:
        return Resources(num_cpus=1, max_concurrency=self.workers)

    def files(self):
        if self._files is None:
            self._files = list_corpus(self.config.corpus)
        return self._files

    def check(self) -> None:
        self.files()  # a missing path, a glob matching nothing: one line, before Ray starts

    def external_inputs(self) -> dict[str, str]:
        if self._corpus_fp is None:  # once per stage object: hash_contents reads every file
            self._corpus_fp = self._corpus_fingerprint()
        return {"corpus": self._corpus_fp}

    def _corpus_fingerprint(self) -> str:
        h = hashlib.sha256()
        for f in self.files():
            # surrogateescape: a local name that is not UTF-8 (listed as undecodable_name)
            h.update(f"{f.rel_path}\0{f.uri}\0{f.size}".encode("utf-8", "surrogateescape"))
            if f.problem:  # a FIFO, a loop, a closed directory: nothing to read
                h.update(f"\0{f.problem}".encode())
            elif self.config.hash_contents:
                from proda_ray.workspace.storage import open_filesystem

                fs, path = open_filesystem(f.uri)
                with fs.open_input_stream(path) as s:
                    while block := s.read(2**22):
                        h.update(block)
            else:
                h.update(str(f.mtime_ns).encode())
        return h.hexdigest()[:20]

    # ------------------------------------------------------------------------------------

    def run(self, ctx: StageContext) -> StageResult:
        ws, cfg = ctx.workspace, self.config
        workers = ctx.workers(self.resources().max_concurrency)
        shards = plan_shards(self.files(), cfg.read.shard_bytes)
        res = StageResult()
        res.counters["shards"] = len(shards)
        res.counters["workers"] = workers
        files = ctx.files
        cfg_json = cfg.model_dump(mode="json")

        def timed(phase: str, fn):
            t = time.perf_counter()
            self.on_phase(f"spec: {phase}")
            out = fn()
            res.timings_s[phase] = time.perf_counter() - t
            return out

        # 1. read + normalize
        units = [s.to_row() for s in shards]
        s1 = timed("read", lambda: ctx.map_units("p1", units, _ReadShard, files, cfg_json))
        # 2. document dedup
        doc_report = timed("dedup_documents", lambda: self._dedup(
            ctx, "p1/docs", "doc_id", "doc_dups", cfg_json))
        # 3. chunk + quality + disciplines
        s3 = timed("chunk", lambda: ctx.map_units("p3", units, _ChunkShard, files, cfg_json))
        # 4. chunk dedup
        chunk_report = timed("dedup_chunks", lambda: self._dedup(
            ctx, "p3/chunks", "chunk_id", "chunk_dups", cfg_json))
        # 5. finalize
        s5 = timed("finalize", lambda: ctx.map_units("p5", units, _FinalizeShard, files))

        for run in (s1, s3, s5):
            res.add(run.totals)
        for table in ("documents", "chunks", "documents.rejected", "chunks.rejected"):
            res.outputs[table] = ctx.table_info(table)
        res.counters["documents"] = res.outputs["documents"].rows
        res.counters["chunks"] = res.outputs["chunks"].rows
        res.report = {
            "dedup": {"documents": doc_report, "chunks": chunk_report},
            "disciplines": _discipline_counts(ws, ctx),
            "tokens": _token_stats(ws, ctx),
        }
        return res

    def _dedup(self, ctx: StageContext, rel: str, id_col: str, out: str,
               cfg_json: dict) -> dict:
        """One step over every shard's narrow columns, or Ray Data operations across the
        cluster (``dedup.distributed``): the same groups either way."""
        ws, d = ctx.workspace, self.config.dedup
        done = posixpath.join(ctx.scratch, f"{out}.done.json")
        if ws.exists(done):
            return ws.read_json(done)
        rows = sum(ws.count_rows(f) for f in ws.list_files(ctx.scratch, rel, suffix=".parquet"))
        across = d.distributed == "always" or (
            d.distributed == "auto" and rows >= d.distributed_min_rows)
        # the driver starts the Ray Data operations: a step task would hold a CPU they need
        if across and ctx.ray_data:
            return _dedup_across(ws, ctx.scratch, rel, id_col, out, cfg_json, rows,
                                 2 * ctx.workers())
        if rows <= INLINE_DEDUP_ROWS:  # a task's worker start would cost more (~1 s)
            return _dedup(ws, ctx.scratch, rel, id_col, out, cfg_json)
        return ctx.call(_dedup, ws, ctx.scratch, rel, id_col, out, cfg_json)


INLINE_DEDUP_ROWS = 50_000  # the driver's peak for the step: about 130 MB (2.7 KB a row)



class _ReadShard(UnitWorker):
    """Files -> staged documents (normalized, with MinHash) and read rejections."""

    holds_state = False

    def setup(self, files: StageFiles, cfg_json: dict) -> None:
        self.files, self.cfg = files, SpecConfig.model_validate(cfg_json)

    def process(self, unit: dict) -> Tally:
        from proda_ray.spec.disciplines import load_taxonomy

        shard, f, c = Shard.from_row(unit), self.files, Counter()
        with f.workspace.parquet_writers({
            "docs": (f.scratch_path("p1", "docs", f"{shard.key}.parquet"), DOC_STAGING),
            "rejected": (f.scratch_path("p1", "rejected", f"{shard.key}.parquet"), REJECTED),
        }) as write:
            for out in read_shard(shard, self.cfg, load_taxonomy(self.cfg.disciplines.taxonomy),
                                  c):
                write(out)
        return Tally.of(c)


class _ChunkShard(UnitWorker):
    """Holds the tokenizer and (lazily) the MiniLM discipline classifier."""

    def setup(self, files: StageFiles, cfg_json: dict) -> None:
        from proda_ray.spec.disciplines import DisciplineClassifier, load_taxonomy
        from proda_ray.tokenizer import load_tokenizer

        self.files = files
        self.cfg = SpecConfig.model_validate(cfg_json)
        self.tokenizer = load_tokenizer(self.cfg.chunk.tokenizer)
        d = self.cfg.disciplines
        self.classifier = DisciplineClassifier(load_taxonomy(d.taxonomy), d.min_score,
                                               d.classify_paragraphs)
        self.dups = DuplicateIndex.from_table(
            files.workspace.read_parquet(files.scratch_path("doc_dups.parquet")))

    def process(self, unit: dict) -> Tally:
        f, key = self.files, unit["key"]
        ws = f.workspace
        c: Counter = Counter()
        with ws.parquet_writers({
            "documents": (f.part("documents", key), DOCUMENTS),
            "documents.rejected": (f.part("documents.rejected", key), REJECTED),
            "chunks": (f.scratch_path("p3", "chunks", f"{key}.parquet"), CHUNK_STAGING),
            "chunks.rejected": (f.scratch_path("p3", "rejected", f"{key}.parquet"), REJECTED),
        }) as write:
            # read-phase rejections belong to the final documents.rejected table too
            for rb in ws.iter_parquet_batches(f.scratch_path("p1", "rejected",
                                                             f"{key}.parquet")):
                write({"documents.rejected": pa.Table.from_batches([rb])})
            docs = ws.iter_parquet_batches(f.scratch_path("p1", "docs", f"{key}.parquet"),
                                           batch_size=256)
            for out in chunk_shard(key, docs, self.dups, self.cfg, self.tokenizer,
                                   self.classifier, c):
                write(out)
        return Tally.of(c)


class _FinalizeShard(UnitWorker):
    """Drops the duplicate chunks of one shard and writes its final table parts."""

    holds_state = False

    def setup(self, files: StageFiles) -> None:
        self.files = files

    def process(self, unit: dict) -> Tally:
        f, key = self.files, unit["key"]
        ws = f.workspace
        dups = DuplicateIndex.from_table(ws.read_parquet(f.scratch_path("chunk_dups.parquet")))
        c: Counter = Counter()
        with ws.parquet_writers({
            "chunks": (f.part("chunks", key), CHUNKS),
            "chunks.rejected": (f.part("chunks.rejected", key), REJECTED),
        }) as write:
            for rb in ws.iter_parquet_batches(f.scratch_path("p3", "rejected",
                                                             f"{key}.parquet")):
                write({"chunks.rejected": pa.Table.from_batches([rb])})
            staged = ws.iter_parquet_batches(f.scratch_path("p3", "chunks", f"{key}.parquet"),
                                             batch_size=1024)
            for out in finalize_chunks(key, staged, dups, c):
                write(out)
        return Tally.of(c)


def _dedup(ws: Workspace, scratch: str, rel: str, id_col: str, out: str,
                cfg_json: dict) -> dict:
    """Global dedup over the narrow columns of every shard's staged rows."""
    done = posixpath.join(scratch, f"{out}.done.json")
    if ws.exists(done):
        return ws.read_json(done)
    cfg = SpecConfig.model_validate(cfg_json)
    parts = []
    for f in ws.list_files(scratch, rel, suffix=".parquet"):
        shard = posixpath.basename(f).removesuffix(".parquet")
        t = ws.read_parquet(f, columns=[id_col, "content_hash", "minhash"])
        loc = pa.array([f"{shard}:{i:09d}" for i in range(t.num_rows)], type=pa.string())
        parts.append(t.append_column("locator", loc))
    table = pa.concat_tables(parts) if parts else pa.table({
        id_col: pa.array([], pa.string()), "content_hash": pa.array([], pa.string()),
        "minhash": pa.array([], pa.binary()), "locator": pa.array([], pa.string())})
    dups, report = dedup_rows(table, id_col, cfg)
    report["backend"] = "one_task"
    ws.write_parquet(posixpath.join(scratch, f"{out}.parquet"), dups)
    ws.write_json(done, report)
    return report


def _dedup_across(ws: Workspace, scratch: str, rel: str, id_col: str, out: str,
                  cfg_json: dict, rows: int, partitions: int) -> dict:
    """``_dedup`` as Ray Data operations (``spec.dedup_ray``): the same table and report."""
    from proda_ray.spec.dedup_ray import find_duplicates_ray

    d = SpecConfig.model_validate(cfg_json).dedup
    files = [(f, posixpath.basename(f).removesuffix(".parquet"))
             for f in ws.list_files(scratch, rel, suffix=".parquet")]
    id_drops, found = find_duplicates_ray(
        ws, files, id_col, enabled=d.enabled, num_bands=d.num_bands,
        rows_per_band=d.rows_per_band, threshold=d.jaccard_threshold, partitions=partitions)
    dups, report = duplicates_table(
        id_drops + [{**dup.__dict__, "locator": None} for dup in found], rows)
    report["backend"] = "ray_data"
    ws.write_parquet(posixpath.join(scratch, f"{out}.parquet"), dups)
    ws.write_json(posixpath.join(scratch, f"{out}.done.json"), report)
    return report


def _discipline_counts(ws: Workspace, ctx: StageContext) -> dict:
    rel = ctx.table_dir("chunks")
    if not ws.list_files(rel, suffix=".parquet"):
        return {}
    t = ws.read_parquet(rel, columns=["discipline_code", "discipline"])
    counts = Counter(f"{c} {d}" if c else "unclassified" for c, d in
                     zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))
    return dict(sorted(counts.items()))


def _token_stats(ws: Workspace, ctx: StageContext) -> dict:
    rel = ctx.table_dir("chunks")
    if not ws.list_files(rel, suffix=".parquet"):
        return {}
    col = ws.read_parquet(rel, columns=["n_tokens"]).column(0)
    return {
        "total": int(pc.sum(col).as_py() or 0),
        "mean": round(float(pc.mean(col).as_py() or 0), 1),
        "max": int(pc.max(col).as_py() or 0),
    }
