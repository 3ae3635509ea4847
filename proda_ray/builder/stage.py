"""The build stage: L1/L2 -> SFT samples -> decontaminated against the benchmark.

Reads statements and concepts (the knowledge content), chain *metadata* only (discipline and
domain name, never steps), and the benchmark items solely to decontaminate against them.
Samples are generated in one step (templates are cheap), written in units; a worker pool
then decontaminates the units (n-grams + MiniLM), each unit committed with its tally.
"""

from __future__ import annotations

import posixpath
import random
import time
from collections import Counter

import pyarrow as pa

from proda_ray.builder import templates
from proda_ray.builder.config import BuildConfig
from proda_ray.builder.decontam import for_benchmark, knowledge_texts, sort_out
from proda_ray.engines import CachedEngine, ResponseCache, Usage, build_engine
from proda_ray.engines.base import preflight
from proda_ray.executors import UnitWorker
from proda_ray.schema import REJECTED, SFT_SAMPLES
from proda_ray.workspace.rejections import rejected_table
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageFiles, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

UNIT_ROWS = 2000
BENCH_COLUMNS = ["item_id", "split", "question", "options", "explanation"]


class BuildStage(Stage[BuildConfig]):
    name = "build"
    config_model = BuildConfig
    inputs = ("statements", "concepts", "chains", "bench_items")
    outputs = ("sft_samples",)

    def __init__(self, config: BuildConfig, *, workers: int | None = None):
        super().__init__(config)
        self.workers = workers

    def resources(self) -> Resources:
        """The LLM units' needs (a llama.cpp engine takes a core; HTTP ones are I/O)."""
        kind = self.config.engine.kind
        return Resources.for_engine(kind, num_cpus=1 if kind == "local" else 0.5,
                                    max_concurrency=self.workers, drives_cluster=kind == "vllm")

    def run(self, ctx: StageContext) -> StageResult:
        if "llm" in self.config.generators:
            preflight(self.config.engine)  # a dead or closed server fails the stage, now
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        paths = {t: ctx.inputs[t].path for t in self.inputs}
        t0 = time.perf_counter()
        gen = ctx.call(_generate, ws, paths, ctx.scratch, cfg)
        res.timings_s["generate"] = time.perf_counter() - t0
        if gen["llm_units"]:
            t0 = time.perf_counter()
            llm = ctx.map_units("llm", [{"key": k} for k in gen["llm_units"]], _LLMUnit, ws,
                                ctx.scratch, paths["concepts"], cfg.model_dump(mode="json"))
            res.timings_s["llm"] = time.perf_counter() - t0
            res.usage = llm.usage
            res.add(Tally(rejected=llm.totals.rejected), rejected_as="sft_samples.rejected")
            for k, v in llm.counters.items():
                gen["counters"][k] = gen["counters"].get(k, 0) + v
        units = [{"key": k} for k in gen["template_units"] + gen["llm_units"]]
        t0 = time.perf_counter()
        run = ctx.map_units("decontam", units, _DecontamUnit, ws, ctx.scratch, paths,
                            ctx.files,
                            cfg.model_dump(mode="json"),
                            resources=Resources(num_cpus=1, max_concurrency=self.workers))
        res.timings_s["decontam"] = time.perf_counter() - t0
        totals = run.totals
        res.add(Tally(rejected=totals.rejected), rejected_as="sft_samples.rejected")
        for t in ("sft_samples", "sft_samples.rejected"):
            res.outputs[t] = ctx.table_info(t)
        res.counters.update(samples=res.outputs["sft_samples"].rows,
                            generated=totals.counters.get("checked", 0),
                            statements=gen["statements"], concepts=gen["concepts"])
        by_type = Counter()
        by_disc: dict[str, Counter] = {}
        for key, v in totals.groups.get("kept", {}).items():
            task, disc = key.split("|", 1)
            by_type[task] += v
            by_disc.setdefault(disc, Counter())[task] += v
        used_s = totals.groups.get("statements_used", {})
        used_c = totals.groups.get("concepts_used", {})
        res.report = {
            "by_type": dict(by_type),
            "by_discipline": {d: dict(c) for d, c in sorted(by_disc.items())},
            "coverage": {
                "statements": round(len(used_s) / gen["statements"], 4)
                if gen["statements"] else None,
                "concepts": round(len(used_c) / gen["concepts"], 4) if gen["concepts"]
                else None},
            "generation": gen["counters"],
            "decontamination": {
                "checked": totals.counters.get("checked", 0),
                "dropped": {k.split(":", 1)[1]: v for k, v in
                            totals.rejected.get("sft_samples.rejected", {}).items()
                            if k.startswith("decontam:")},
                "ngram": cfg.decontam.ngram,
                "embedding_threshold": cfg.decontam.embedding_threshold,
                "bench_items": totals.counters.get("bench_items", 0) // max(1, len(units))},
        }
        return res


def _generate(ws: Workspace, paths: dict, scratch: str, cfg: BuildConfig) -> dict:
    marker = posixpath.join(scratch, "generated.json")
    if ws.exists(marker):
        return ws.read_json(marker)
    meta = ws.read_parquet(paths["chains"], columns=["chain_id", "discipline_code",
                                                     "domain_context"]).to_pylist()
    meta = {m["chain_id"]: m for m in meta}
    stmts = ws.read_parquet(paths["statements"], columns=[
        "statement_id", "chain_id", "discipline_code", "subject", "predicate", "object",
        "concept_ids"]).to_pylist()
    domains = {m["discipline_code"]: m["domain_context"] for m in meta.values()}
    for s in stmts:  # discipline and domain name only; the chain's steps are never read
        m = meta.get(s["chain_id"]) or {}
        s["discipline_code"] = s["discipline_code"] or m.get("discipline_code")
        s["domain"] = m.get("domain_context") or domains.get(s["discipline_code"])
    concepts = ws.read_parquet(paths["concepts"]).to_pylist()
    samples, counters = [], {}
    if "template" in cfg.generators:
        samples, counters = templates.generate(
            stmts, concepts, samples_per_statement=cfg.samples_per_statement,
            ratios=cfg.ratios, seed=cfg.seed, true_ratio=cfg.true_ratio)
    for s in samples:
        s["dataset"] = cfg.dataset
    template_units = []
    for i in range(0, len(samples), UNIT_ROWS):
        key = f"t{len(template_units):06d}"
        ws.write_parquet(posixpath.join(scratch, "samples", f"{key}.parquet"),
                         pa.Table.from_pylist(samples[i : i + UNIT_ROWS], schema=SFT_SAMPLES))
        template_units.append(key)
    llm_units: list[str] = []
    if "llm" in cfg.generators and stmts:
        # seeded windows across chains; each statement gets task types by the ratios
        rng = random.Random(f"{cfg.seed}:llm-windows")
        order = sorted(stmts, key=lambda s: s["statement_id"])
        rng.shuffle(order)
        n = max(1, round(cfg.samples_per_statement * len(order)))
        plan = [t for t, c in sorted(templates.plan_counts(n, cfg.ratios).items())
                for _ in range(c)]
        rng.shuffle(plan)
        jobs = [{"statement": order[k % len(order)], "task": t} for k, t in enumerate(plan)]
        per_unit = cfg.window * 8
        for i in range(0, len(jobs), per_unit):
            key = f"w{len(llm_units):06d}"
            ws.write_json(posixpath.join(scratch, "windows", f"{key}.json"),
                          jobs[i : i + per_unit])
            llm_units.append(key)
    if not template_units and not llm_units:  # nothing to build: still one (empty) part
        ws.write_parquet(posixpath.join(scratch, "samples", "t000000.parquet"),
                         SFT_SAMPLES.empty_table())
        template_units.append("t000000")
    out = {"template_units": template_units, "llm_units": llm_units,
           "samples": len(samples), "statements": len(stmts), "concepts": len(concepts),
           "counters": counters}
    ws.write_json(marker, out)
    return out


class _LLMUnit(UnitWorker):
    """LLM-written samples for one unit of windows, behind the response cache."""

    def setup(self, ws: Workspace, scratch: str, concepts_rel: str, cfg_json: dict) -> None:
        self.ws, self.scratch = ws, scratch
        self.cfg = BuildConfig.model_validate(cfg_json)
        self.concepts = {c["concept_id"]: c for c in ws.read_parquet(concepts_rel).to_pylist()}
        self.engine = CachedEngine(build_engine(self.cfg.engine), ResponseCache(ws))

    def process(self, unit: dict) -> Tally:
        from proda_ray.builder.llm import llm_rejections, llm_samples

        key = unit["key"]
        jobs = self.ws.read_json(posixpath.join(self.scratch, "windows", f"{key}.json"))
        self.engine.usage = Usage()
        cfg = self.cfg
        samples, failed = llm_samples(jobs, self.concepts, self.engine, cfg.temperature,
                                      cfg.max_tokens, cfg.retries, cfg.seed)
        for s in samples:
            s["dataset"] = cfg.dataset
        tally = Tally(counters={"llm:jobs": len(jobs), "llm:made": len(samples)})
        rejected = llm_rejections(failed)
        for x in rejected:
            tally.reject("sft_samples.rejected", f"llm:{x.reason}")
        self.ws.write_parquet(posixpath.join(self.scratch, "samples", f"{key}.parquet"),
                              pa.Table.from_pylist(samples, schema=SFT_SAMPLES))
        self.ws.write_parquet(posixpath.join(self.scratch, "llm_rejected", f"{key}.parquet"),
                              rejected_table(rejected).cast(REJECTED))
        tally.usage.merge(self.engine.usage)
        return tally


class _DecontamUnit(UnitWorker):
    def setup(self, ws: Workspace, scratch: str, paths: dict[str, str], files: StageFiles,
              cfg_json: dict) -> None:
        self.ws, self.scratch, self.files = ws, scratch, files
        cfg = BuildConfig.model_validate(cfg_json)
        items = ws.read_parquet(paths["bench_items"], columns=BENCH_COLUMNS).to_pylist()
        self.n_items = len(items)
        self.checker = for_benchmark(items, cfg.decontam, knowledge_texts(ws, paths))

    def process(self, unit: dict) -> Tally:
        key = unit["key"]
        rows = self.ws.read_parquet(posixpath.join(self.scratch, "samples", f"{key}.parquet")
                                    ).to_pylist()
        kept, rejected = sort_out(self.checker, rows)
        c = Tally(counters={"checked": len(rows), "bench_items": self.n_items})
        for r in kept:
            c.group("kept", f"{r['task_type']}|{r['discipline_code'] or ''}")
            for s in r["statement_ids"]:
                c.group("statements_used", s)
            for x in r["concept_ids"] or []:
                c.group("concepts_used", x)
        for x in rejected:
            c.reject("sft_samples.rejected", f"decontam:{x.reason}")
        self.files.write_part("sft_samples", key,
                              pa.Table.from_pylist(kept, schema=SFT_SAMPLES))
        parts = [rejected_table(rejected).cast(REJECTED)]
        llm_rej = posixpath.join(self.scratch, "llm_rejected", f"{key}.parquet")
        if self.ws.exists(llm_rej):  # an LLM unit's own rejections join the table
            parts.append(self.ws.read_parquet(llm_rej).cast(REJECTED))
        self.files.write_part("sft_samples.rejected", key,
                              pa.concat_tables(parts))
        return c
