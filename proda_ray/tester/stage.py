"""The bench stage on Ray: chains -> gated items -> dev/test splits.

Chains are grouped into work units; an actor pool compiles each unit (templates, optional
LLM items and engine answerability behind the response cache) and writes its candidates and
rejections, then a done marker (resumable like extraction). One final task deduplicates,
applies quotas and splits across all units.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter

import numpy as np
import pyarrow as pa
import ray

from proda_ray.engines import CachedEngine, ResponseCache, Usage, build_engine
from proda_ray.runtime import configure_data_context, run_units, worker_count
from proda_ray.schema import BENCH_ITEMS, REJECTED
from proda_ray.spec.shards import rejected_table
from proda_ray.tester.compile import compile_unit, finalize, pools
from proda_ray.tester.config import BenchConfig
from proda_ray.workspace.stage import Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace

CANDIDATE_COLUMNS = [f.name for f in BENCH_ITEMS if f.name != "split"]


class BenchStage(Stage[BenchConfig]):
    name = "bench"
    config_model = BenchConfig
    inputs = ("chains", "statements")
    outputs = ("bench_items",)
    code_modules = ("proda_ray.tester", "proda_ray.engines", "proda_ray.schema",
                    "proda_ray.ids")

    def __init__(self, config: BenchConfig, *, workers: int | None = None):
        super().__init__(config)
        self.workers = workers

    def needs_engine(self) -> bool:
        c = self.config
        return "llm" in c.generators or c.answerability == "engine"

    def run(self, ctx: StageContext) -> StageResult:
        configure_data_context(ctx.show_progress)
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        t0 = time.perf_counter()
        n_units = ray.get(_prepare.remote(ws, ctx.inputs["chains"].path,
                                          ctx.inputs["statements"].path, ctx.scratch, cfg))
        res.timings_s["prepare"] = time.perf_counter() - t0
        units = [{"key": f"u{i:06d}"} for i in range(n_units)]
        t0 = time.perf_counter()
        engine = self.needs_engine()
        run = run_units(ws, ctx.scratch, "units", units, _BenchUnit,
                        (ws, ctx.scratch, cfg.model_dump(mode="json"), engine),
                        worker_count(self.workers), actors=True,
                        num_cpus=1 if engine and cfg.engine.kind == "local" else 0.5,
                        inline=engine and cfg.engine.kind == "vllm")
        res.timings_s["compile"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        final = ray.get(_finalize.remote(ws, ctx.scratch, [u["key"] for u in units],
                                         ctx.table_dir("bench_items"),
                                         ctx.table_dir("bench_items.rejected"), cfg))
        res.timings_s["finalize"] = time.perf_counter() - t0
        for key, value in {**run.counters(), **final}.items():
            if key.startswith("rejected:"):
                _, step, reason = key.split(":", 2)
                res.rejected["bench_items.rejected"][f"{step}:{reason}"] += value
            elif not key.startswith("report:"):
                res.counters[key] += value
        res.usage = run.usage()
        for t in ("bench_items", "bench_items.rejected"):
            res.outputs[t] = ctx.table_info(t)
        res.report = {k.removeprefix("report:"): v for k, v in final.items()
                      if k.startswith("report:")}
        return res


@ray.remote(num_cpus=1)
def _prepare(ws: Workspace, chains_rel: str, stmts_rel: str, scratch: str, cfg: BenchConfig
             ) -> int:
    """Write the distractor pools and each unit's chains + statements; return unit count."""
    if ws.exists(scratch, "prepared.json"):
        return ws.read_json(posixpath.join(scratch, "prepared.json"))["units"]
    chains = sorted(ws.read_parquet(chains_rel).to_pylist(), key=lambda c: c["chain_id"])
    stmts = ws.read_parquet(stmts_rel).to_pylist()
    ws.write_json(posixpath.join(scratch, "pools.json"), pools(chains, stmts, seed=cfg.seed))
    by_chain: dict[str, list[dict]] = {}
    for s in stmts:
        by_chain.setdefault(s["chain_id"], []).append(s)
    n = 0
    for i in range(0, len(chains), cfg.unit_chains):
        part = chains[i : i + cfg.unit_chains]
        ws.write_json(posixpath.join(scratch, "inputs", f"u{n:06d}.json"), {
            "chains": part,
            "statements": [s for c in part for s in by_chain.get(c["chain_id"], [])]})
        n += 1
    ws.write_json(posixpath.join(scratch, "prepared.json"), {"units": n})
    return n


class _BenchUnit:
    def __init__(self, ws: Workspace, scratch: str, cfg_json: dict, engine: bool):
        self.ws, self.scratch = ws, scratch
        self.cfg = BenchConfig.model_validate(cfg_json)
        self.pool = ws.read_json(posixpath.join(scratch, "pools.json"))
        self.engine = (CachedEngine(build_engine(self.cfg.engine), ResponseCache(ws))
                       if engine else None)

    def __call__(self, batch: dict) -> dict:
        key = str(batch["key"][0])
        data = self.ws.read_json(posixpath.join(self.scratch, "inputs", f"{key}.json"))
        if self.engine is not None:
            self.engine.usage = Usage()
        out = compile_unit(data["chains"], data["statements"], self.pool, self.cfg,
                           self.engine)
        rows = [{c: i.get(c) for c in CANDIDATE_COLUMNS} | {"split": ""} for i in out.items]
        self.ws.write_parquet(posixpath.join(self.scratch, "candidates", f"{key}.parquet"),
                              pa.Table.from_pylist(rows, schema=BENCH_ITEMS))
        self.ws.write_parquet(posixpath.join(self.scratch, "rejected", f"{key}.parquet"),
                              rejected_table(out.rejected).cast(REJECTED))
        done = Counter(out.counters)
        if self.engine is not None:
            done.update({f"usage:{k}": v for k, v in self.engine.usage.model_dump().items()})
        self.ws.write_json(posixpath.join(self.scratch, "units", f"{key}.done.json"),
                           dict(done))
        return {"key": np.array([key])}


@ray.remote(num_cpus=1)
def _finalize(ws: Workspace, scratch: str, keys: list[str], items_dir: str, rej_dir: str,
              cfg: BenchConfig) -> dict:
    items = []
    for k in keys:
        items += ws.read_parquet(posixpath.join(scratch, "candidates", f"{k}.parquet")
                                 ).to_pylist()
    out = finalize(items, cfg)
    ws.write_parquet(posixpath.join(items_dir, "part-00000.parquet"),
                     pa.Table.from_pylist(out.items, schema=BENCH_ITEMS))
    unit_rejects = [ws.read_parquet(posixpath.join(scratch, "rejected", f"{k}.parquet"))
                    for k in keys]
    ws.write_parquet(posixpath.join(rej_dir, "part-00000.parquet"), pa.concat_tables(
        [*unit_rejects, rejected_table(out.rejected).cast(REJECTED)]))
    report: dict = {"splits": Counter(), "by_discipline": {}, "by_type": Counter(),
                    "answer_sizes": Counter()}
    for i in out.items:
        report["splits"][i["split"]] += 1
        d = report["by_discipline"].setdefault(i["discipline_code"] or "", Counter())
        d[i["split"]] += 1
        report["by_type"][i["question_type"]] += 1
        report["answer_sizes"][str(len(i["answer"]))] += 1
    res = dict(out.counters)
    res.update({f"report:{k}": (dict(v) if isinstance(v, Counter) else
                                {d: dict(c) for d, c in v.items()})
                for k, v in report.items()})
    if out.validity:
        v = out.validity
        res["report:validity"] = {
            "mode": cfg.validity, "margin": v["margin"],
            "types": {t: {k: r[k] for k in ("n", "prior", "best_solver", "best_minus_prior",
                                            "form_solvable", "solvers")}
                      for t, r in v["types"].items()},
            "form_solvable_items": dict(Counter(x["question_type"]
                                                for x in v["form_solvable_items"]))}
    return res
