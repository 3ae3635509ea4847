"""The bench stage: the knowledge core -> gated items -> dev/test splits.

The core (chains, statements, defined concepts with the chunk their definition came from,
and those chunks' headings and text) is grouped by document into work units; a worker pool
compiles each unit (templates, optional LLM items and engine answerability behind the
response cache) and writes its candidates and rejections, then the executor commits its
tally (resumable like extraction). One final step deduplicates, applies quotas, runs the
validity suite and splits across all units.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter

import pyarrow as pa

from proda_ray.engines import CachedEngine, ResponseCache, Usage, build_engine
from proda_ray.engines.base import preflight
from proda_ray.executors import UnitWorker
from proda_ray.schema import BENCH_ITEMS, REJECTED
from proda_ray.tester.compile import (
    compile_unit,
    concept_sources,
    finalize,
    pools,
    transfer_groups_of,
)
from proda_ray.tester.config import BenchConfig
from proda_ray.tester.reference import reference_items
from proda_ray.workspace.rejections import rejected_table
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageFiles, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

CANDIDATE_COLUMNS = [f.name for f in BENCH_ITEMS if f.name != "split"]


class BenchStage(Stage[BenchConfig]):
    name = "bench"
    config_model = BenchConfig
    inputs = ("chains", "statements", "concepts", "concept_mentions", "chunks", "documents")
    outputs = ("bench_items",)

    def __init__(self, config: BenchConfig, *, workers: int | None = None):
        super().__init__(config)
        self.workers = workers

    def needs_engine(self) -> bool:
        c = self.config
        return "llm" in c.generators or c.answerability == "engine"

    def resources(self) -> Resources:
        local = self.needs_engine() and self.config.engine.kind == "local"
        kind = self.config.engine.kind if self.needs_engine() else "none"
        return Resources.for_engine(kind, num_cpus=1 if local else 0.5,
                                    max_concurrency=self.workers, drives_cluster=kind == "vllm")

    def run(self, ctx: StageContext) -> StageResult:
        if self.needs_engine():
            preflight(self.config.engine)  # a dead or closed server fails the stage, now
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        t0 = time.perf_counter()
        n_units = ctx.call(_prepare, ws, {t: (i.path if i.rows else None)
                                          for t, i in ctx.inputs.items()}, ctx.scratch, cfg)
        res.timings_s["prepare"] = time.perf_counter() - t0
        units = [{"key": f"u{i:06d}"} for i in range(n_units)]
        t0 = time.perf_counter()
        run = ctx.map_units("units", units, _BenchUnit, ws, ctx.scratch,
                            cfg.model_dump(mode="json"), self.needs_engine())
        res.timings_s["compile"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        docs = ctx.inputs["documents"]
        final, report = ctx.call(_finalize, ws, ctx.scratch, [u["key"] for u in units],
                                 ctx.files, cfg,
                                 docs.path if docs.rows else None)
        res.timings_s["finalize"] = time.perf_counter() - t0
        res.add(run.totals, rejected_as="bench_items.rejected")
        res.add(final, rejected_as="bench_items.rejected")
        res.usage, res.run_usage = run.usage, run.run_usage  # all runs, this run
        for t in ("bench_items", "bench_items.rejected"):
            res.outputs[t] = ctx.table_info(t)
        res.report = report
        return res


CHUNK_COLUMNS = ["chunk_id", "doc_id", "discipline_code", "discipline", "section_path",
                 "title", "text"]


def _prepare(ws: Workspace, paths: dict[str, str | None], scratch: str, cfg: BenchConfig
             ) -> int:
    """Write the distractor pools and each unit's part of the core; return the unit count.
    A unit holds whole documents (a lone false statement borrows an object from another
    chunk of its document)."""
    if ws.exists(scratch, "prepared.json"):
        return ws.read_json(posixpath.join(scratch, "prepared.json"))["units"]

    def read(t: str, columns=None) -> list[dict]:
        return ws.read_parquet(paths[t], columns=columns).to_pylist() if paths.get(t) else []

    chains = sorted(read("chains"), key=lambda c: c["chain_id"])
    stmts = read("statements")
    concepts, all_concepts = [], read("concepts")
    terms = sorted({(d, c["term"]) for c in all_concepts
                    for d in (c.get("discipline_codes") or [""])})
    if {"definition_match", "term_match"} & set(cfg.kinds):
        concepts = concept_sources(all_concepts, read(
            "concept_mentions", ["term", "definition", "chunk_id", "doc_id",
                                 "discipline_code", "origin"]))
    wanted = {x["chunk_id"] for x in [*chains, *stmts, *concepts]}
    chunks = {}
    if paths.get("chunks") and wanted:
        # only the chunks the core came from (the stage never holds the corpus' text)
        for batch in ws.iter_parquet_batches(paths["chunks"], columns=CHUNK_COLUMNS):
            keep = [r for r in batch.to_pylist() if r["chunk_id"] in wanted]
            chunks.update({r["chunk_id"]: r for r in keep})
    domain = {k: c.get("discipline") for k, c in chunks.items()}
    for c in concepts:
        c["discipline"] = domain.get(c["chunk_id"])
    # the transfer split: whole documents, drawn before the definition sets so that no set
    # mixes a held-out document with the rest
    transfer, shared = transfer_groups_of(list(chunks.values()), cfg)
    ws.write_json(posixpath.join(scratch, "transfer.json"),
                  {"groups": sorted(transfer), "kept_in_domain_shared_sentence": shared})
    if concepts:  # the four-definition sets span documents: drawn here, over the whole core
        from proda_ray.embeddings import MiniLMEmbedder
        from proda_ray.tester.compile import _similarity, annotate_sets

        gkey = "doc_id" if cfg.split_by == "document" else "chunk_id"
        concepts = annotate_sets(concepts, cfg.seed, _similarity(MiniLMEmbedder().encode),
                                 side=lambda c: c.get(gkey) in transfer)
    ws.write_json(posixpath.join(scratch, "pools.json"),
                  pools(chains, stmts, seed=cfg.seed, terms=terms))
    docs: dict[str, dict[str, list]] = {}
    for kind, rows in (("chains", chains), ("statements", stmts), ("concepts", concepts),
                       ("chunks", list(chunks.values()))):
        for r in rows:
            docs.setdefault(r["doc_id"], {"chains": [], "statements": [], "concepts": [],
                                          "chunks": []})[kind].append(r)
    n, part, size = 0, {"chains": [], "statements": [], "concepts": [], "chunks": []}, 0

    def flush():
        nonlocal n, part, size
        ws.write_json(posixpath.join(scratch, "inputs", f"u{n:06d}.json"), part)
        n, part, size = n + 1, {k: [] for k in part}, 0

    for doc in sorted(docs):
        for k, v in docs[doc].items():
            part[k] += v
        size += max(1, len(docs[doc]["chunks"]))
        if size >= cfg.unit_chunks:
            flush()
    if size:
        flush()
    ws.write_json(posixpath.join(scratch, "prepared.json"), {"units": n})
    return n


def _with_sentences(chunk: dict, needed: bool = True) -> dict:
    """A chunk's sentences and lines, for the check that a perturbed statement is stated
    nowhere in it (``needed``: statement_truth is built; else the text is only dropped)."""
    from proda_ray.knowledge.text import sentences

    if not needed:
        return {k: v for k, v in chunk.items() if k != "text"}
    text = chunk.get("text") or ""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return {k: v for k, v in chunk.items() if k != "text"} | {
        "sentences": [s.text for s in sentences(text)] + lines}


class _BenchUnit(UnitWorker):
    def setup(self, ws: Workspace, scratch: str, cfg_json: dict, engine: bool) -> None:
        self.ws, self.scratch = ws, scratch
        self.cfg = BenchConfig.model_validate(cfg_json)
        self.pool = ws.read_json(posixpath.join(scratch, "pools.json"))
        self.engine = (CachedEngine(build_engine(self.cfg.engine), ResponseCache(ws))
                       if engine else None)
        self.embedder = None  # MiniLM, loaded on the first unit that needs it

    def process(self, unit: dict) -> Tally:
        key = unit["key"]
        data = self.ws.read_json(posixpath.join(self.scratch, "inputs", f"{key}.json"))
        if self.engine is not None:
            self.engine.usage = Usage()
        statements = "statement_truth" in self.cfg.kinds
        if self.embedder is None and statements:
            from proda_ray.embeddings import MiniLMEmbedder

            self.embedder = MiniLMEmbedder()
        out = compile_unit(data["chains"], data["statements"], self.pool, self.cfg,
                           self.engine,
                           chunks=[_with_sentences(c, statements) for c in data["chunks"]],
                           concepts=data["concepts"],
                           embed=self.embedder.encode if self.embedder else None)
        rows = [{c: i.get(c) for c in CANDIDATE_COLUMNS} | {"split": ""} for i in out.items]
        self.ws.write_parquet(posixpath.join(self.scratch, "candidates", f"{key}.parquet"),
                              pa.Table.from_pylist(rows, schema=BENCH_ITEMS))
        self.ws.write_parquet(posixpath.join(self.scratch, "rejected", f"{key}.parquet"),
                              rejected_table(out.rejected).cast(REJECTED))
        return Tally.of(out.counters, rejected_table="bench_items.rejected",
                        usage=self.engine.usage if self.engine is not None else None)


def _reference(ws: Workspace, docs_rel: str | None) -> tuple[list[dict], Counter]:
    """The authors' keyed exercises, streamed from the documents (never held whole)."""
    rows, skipped, seen = [], Counter(), set()
    if docs_rel:
        for batch in ws.iter_parquet_batches(docs_rel, columns=["doc_id", "text",
                                                                "discipline_code", "title"],
                                             batch_size=256):
            got, why = reference_items(batch.to_pylist(), seen)
            rows += got
            skipped.update(why)
    return rows, skipped


def _finalize(ws: Workspace, scratch: str, keys: list[str], files: StageFiles,
              cfg: BenchConfig, docs_rel: str | None = None) -> tuple[Tally, dict]:
    """The items of every unit, deduplicated, under quota, validity-checked and split:
    (the tally, the report)."""
    items = []
    for k in keys:
        items += ws.read_parquet(posixpath.join(scratch, "candidates", f"{k}.parquet")
                                 ).to_pylist()
    t = ws.read_json(posixpath.join(scratch, "transfer.json"))
    out = finalize(items, cfg, set(t["groups"]))
    out.counters["transfer_kept_in_domain_shared_sentence"] = \
        t["kept_in_domain_shared_sentence"]
    ref, ref_skipped = _reference(ws, docs_rel) if cfg.reference_items else ([], Counter())
    files.write_part("bench_items", "part-00000",
                     pa.Table.from_pylist(out.items + ref, schema=BENCH_ITEMS))
    unit_rejects = [ws.read_parquet(posixpath.join(scratch, "rejected", f"{k}.parquet"))
                    for k in keys]
    files.write_part("bench_items.rejected", "part-00000", pa.concat_tables(
        [*unit_rejects, rejected_table(out.rejected).cast(REJECTED)]))
    report: dict = {"splits": Counter(), "by_discipline": {}, "by_type": Counter(),
                    "by_level": Counter(), "answer_sizes": Counter(),
                    "answer_patterns": Counter()}
    report["reference_items"] = Counter()
    for r in ref:
        report["splits"]["reference"] += 1
        report["reference_items"][r["discipline_code"] or ""] += 1
    # kept, in the authors' order: an option points at others ("all of the above")
    report["reference_authors_order"] = ref_skipped.pop("authors_order_kept", 0)
    report["reference_skipped"] = ref_skipped
    for i in out.items:
        report["splits"][i["split"]] += 1
        d = report["by_discipline"].setdefault(i["discipline_code"] or "", Counter())
        d[i["split"]] += 1
        report["by_type"][i["question_type"]] += 1
        report["by_level"][i.get("level") or ""] += 1
        report["answer_sizes"][str(len(i["answer"]))] += 1
        report["answer_patterns"][i["answer"]] += 1
    rep = {k: (v if isinstance(v, int) else dict(v) if isinstance(v, Counter) else
               {d: dict(c) for d, c in v.items()}) for k, v in report.items()}
    if out.validity:
        v = out.validity
        rep["validity"] = {
            "mode": cfg.validity, "margin": v["margin"],
            "types": {t: {k: r[k] for k in ("n", "prior", "best_solver", "best_minus_prior",
                                            "form_solvable", "solvers")}
                      for t, r in v["types"].items()},
            "form_solvable_items": dict(Counter(x["question_type"]
                                                for x in v["form_solvable_items"]))}
    return Tally.of(out.counters, rejected_table="bench_items.rejected"), rep
