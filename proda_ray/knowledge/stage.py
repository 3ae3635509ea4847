"""The extract stage: chunks -> chains, grounded statements, concept mentions.

Chunks are selected deterministically (``limit`` spreads across disciplines), grouped into
work units of ``unit_chunks`` chunk ids in id order, and materialized per unit by one step
(the chunk text never passes through the driver). A pool of workers, one engine each (on
Ray: actors), extracts each unit and writes its table parts; the executor then commits the
unit's tally (counters, rejections, LLM usage) as its done marker. A killed run redoes only
unfinished units, and inside those every call already answered comes from the response
cache: no token is spent twice.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter

import pyarrow as pa

from proda_ray.engines import CachedEngine, ResponseCache, Usage, build_engine
from proda_ray.engines.base import preflight
from proda_ray.executors import UnitWorker
from proda_ray.knowledge.config import ExtractConfig
from proda_ray.knowledge.extract import extract_chunks_safely
from proda_ray.knowledge.roles import chunk_role
from proda_ray.schema import CHAINS, CONCEPT_MENTIONS, REJECTED, STATEMENTS
from proda_ray.workspace.rejections import Rejection, rejected_table
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageFiles, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

CHUNK_COLUMNS = ["chunk_id", "doc_id", "text", "discipline_code", "discipline", "source_path",
                 "section_path"]
OUTPUTS = ("extracted_chains", "extracted_statements", "concept_mentions")


def select_chunks(ids: list[str], disciplines: list[str | None], names: list[str | None],
                  cfg: ExtractConfig) -> list[str]:
    """Chunk ids to extract: filtered by discipline, then round-robin across disciplines
    (in code order, each in id order) up to ``limit``. Deterministic."""
    wanted = set(cfg.disciplines or [])
    by_disc: dict[str, list[str]] = {}
    for cid, code, name in sorted(zip(ids, disciplines, names, strict=True)):
        if wanted and code not in wanted and name not in wanted:
            continue
        by_disc.setdefault(code or "", []).append(cid)
    if cfg.limit is None:
        return sorted(c for group in by_disc.values() for c in group)
    out: list[str] = []
    queues = [by_disc[k] for k in sorted(by_disc)]
    depth = 0
    while len(out) < cfg.limit and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)][: cfg.limit - len(out)]
        depth += 1
    return sorted(out)


class ExtractStage(Stage[ExtractConfig]):
    name = "extract"
    config_model = ExtractConfig
    inputs = ("chunks",)
    outputs = OUTPUTS

    def __init__(self, config: ExtractConfig, *, workers: int | None = None):
        super().__init__(config)
        self.workers = workers

    def resources(self) -> Resources:
        # llama.cpp runs one thread per actor; HTTP engines are I/O bound
        return Resources.for_engine(self.config.engine.kind,
                                    num_cpus=1 if self.config.engine.kind == "local" else 0.25,
                                    max_concurrency=self.workers,
                                    drives_cluster=self.config.engine.kind == "vllm")

    def run(self, ctx: StageContext) -> StageResult:
        if self.config.engine.kind == "vllm":
            from proda_ray.engines.vllm import check_vllm_cluster

            check_vllm_cluster(self.config.engine)  # refuses at once without GPUs
        preflight(self.config.engine)  # a dead or closed server fails the stage, now
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        chunks_rel = ctx.inputs["chunks"].path
        t0 = time.perf_counter()
        roles = ctx.call(_roles, ws, chunks_rel, ctx.scratch)
        res.timings_s["roles"] = time.perf_counter() - t0
        wanted = set(cfg.disciplines or [])
        considered = [r for r in roles if not wanted or r["discipline_code"] in wanted
                      or r["discipline"] in wanted]
        res.report["chunk_roles"] = dict(Counter(r["role"] for r in considered))
        # expository chunks are extracted, glossaries give concepts; every other role is a
        # rejection with the role as its reason (the chunk stays in the corpus)
        rejected = [r for r in considered if r["role"] not in ("expository", "glossary")]
        ctx.files.write_part("extraction.rejected", "roles", rejected_table([
            Rejection(r["source_path"], "role", f"chunk_role_{r['role']}", detail=r["why"],
                      id=r["chunk_id"]) for r in rejected]).cast(REJECTED))
        for r in rejected:
            res.rejected["extraction.rejected"][f"role:chunk_role_{r['role']}"] += 1
        expo = [r for r in considered if r["role"] == "expository"]
        selected = select_chunks([r["chunk_id"] for r in expo],
                                 [r["discipline_code"] for r in expo],
                                 [r["discipline"] for r in expo], cfg)
        chosen = set(selected)
        docs = {r["doc_id"] for r in expo if r["chunk_id"] in chosen}
        # the glossaries of the documents read (all of them without a limit)
        selected = sorted(chosen | {r["chunk_id"] for r in considered if r["role"] == "glossary"
                                    and (cfg.limit is None or r["doc_id"] in docs)})
        size = cfg.chunks_per_unit()
        units = [{"key": f"u{i // size:06d}", "chunk_ids": ",".join(selected[i : i + size])}
                 for i in range(0, len(selected), size)]
        res.counters["chunks_selected"] = len(selected)
        res.counters["units"] = len(units)
        t0 = time.perf_counter()
        ctx.call(_materialize, ws, chunks_rel, ctx.scratch, units)
        res.timings_s["materialize"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = ctx.map_units("units", units, _ExtractUnit, ctx.files,
                            cfg.model_dump(mode="json"))
        res.timings_s["extract"] = time.perf_counter() - t0
        res.add(run.totals, rejected_as="extraction.rejected")
        res.counters["units_run"] = len(run.ran)
        res.counters["units_reused"] = len(units) - len(run.ran)
        res.usage, res.run_usage = run.usage, run.run_usage  # all runs, this run
        for t in (*OUTPUTS, "extraction.rejected"):
            res.outputs[t] = ctx.table_info(t)
        proposed = res.counters.get("statements_proposed", 0)
        c = res.counters
        res.report.update({
            "mined_share": {k: round(c.get(f"mined:{k}", 0) / c[k], 4) if c.get(k) else None
                            for k in ("chains", "statements", "mentions")},
            "per_expository_chunk": {
                k: round(c.get(k, 0) / max(1, c.get("role:expository", 0)), 3)
                for k in ("chains", "statements", "mentions")},
            "grounding": {
                "proposed": proposed, "kept": res.counters.get("statements", 0),
                "kept_rate": round(res.counters.get("statements", 0) / proposed, 4)
                if proposed else None,
                "exact": res.counters.get("grounding:exact", 0),
                "normalized": res.counters.get("grounding:normalized", 0)},
            "tokens_per_chunk": round((res.usage.prompt_tokens + res.usage.completion_tokens)
                                      / max(1, res.counters.get("chunks", 0)), 1)
            if run.ran else None,
        })
        return res


def _roles(ws: Workspace, chunks_rel: str, scratch: str) -> list[dict]:
    """The role of every chunk (``roles.chunk_role``), computed once per stage run."""
    marker = posixpath.join(scratch, "roles.json")
    if ws.exists(marker):
        return ws.read_json(marker)["roles"]
    out = []
    cols = ["chunk_id", "doc_id", "text", "section_path", "discipline_code", "discipline",
            "source_path"]
    for batch in ws.iter_parquet_batches(chunks_rel, columns=cols, batch_size=1024):
        for row in batch.to_pylist():
            role, why = chunk_role(row["text"], list(row["section_path"] or []))
            out.append({"chunk_id": row["chunk_id"], "doc_id": row["doc_id"],
                        "discipline_code": row["discipline_code"],
                        "discipline": row["discipline"], "source_path": row["source_path"],
                        "role": role, "why": why})
    ws.write_json(marker, {"roles": out})
    return out


def _materialize(ws: Workspace, chunks_rel: str, scratch: str, units: list[dict]) -> int:
    """Write each unit's chunk rows to ``<scratch>/inputs/<unit>.parquet`` (one pass)."""
    todo = [u for u in units if not ws.exists(scratch, "inputs", f"{u['key']}.parquet")]
    if not todo:
        return 0
    owner = {cid: u["key"] for u in todo for cid in u["chunk_ids"].split(",")}
    parts: dict[str, list[pa.Table]] = {u["key"]: [] for u in todo}
    for batch in ws.iter_parquet_batches(chunks_rel, columns=CHUNK_COLUMNS, batch_size=2048):
        t = pa.Table.from_batches([batch])
        keys = [owner.get(c) for c in t.column("chunk_id").to_pylist()]
        for key in {k for k in keys if k}:
            mask = pa.array([k == key for k in keys])
            parts[key].append(t.filter(mask))
    for key, tables in parts.items():
        table = pa.concat_tables(tables) if tables else pa.table({})
        table = table.sort_by("chunk_id") if table.num_rows else table
        ws.write_parquet(posixpath.join(scratch, "inputs", f"{key}.parquet"), table)
    return len(todo)


class _ExtractUnit(UnitWorker):
    """One engine (e.g. a llama.cpp model) behind the workspace's response cache."""

    def setup(self, files: StageFiles, cfg_json: dict) -> None:
        self.files = files
        self.cfg = ExtractConfig.model_validate(cfg_json)
        self.engine = CachedEngine(build_engine(self.cfg.engine), ResponseCache(files.workspace))

    def process(self, unit: dict) -> Tally:
        key, f = unit["key"], self.files
        chunks = f.workspace.read_parquet(f.scratch_path("inputs", f"{key}.parquet"))
        self.engine.usage = Usage()
        ex = extract_chunks_safely(chunks.to_pylist(), self.engine, self.cfg)
        for table, rows, schema in (("extracted_chains", ex.chains, CHAINS),
                                    ("extracted_statements", ex.statements, STATEMENTS),
                                    ("concept_mentions", ex.mentions, CONCEPT_MENTIONS)):
            f.write_part(table, key, pa.Table.from_pylist(rows, schema=schema))
        f.write_part("extraction.rejected", key, rejected_table(ex.rejected).cast(REJECTED))
        return Tally.of(ex.counters, rejected_table="extraction.rejected",
                        usage=self.engine.usage)
