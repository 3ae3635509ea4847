"""Tester + Builder throughput: template generators vs the LLM path, tokens per item.

    python benchmarks/tester_builder.py [--limit 20] [--chunk-tokens 512] [--workspace DIR]

1. A real knowledge core: spec over two OpenStax books, ``extract`` (embedded Gemma 3 270M,
   llama.cpp) on ``--limit`` chunks, ``merge``. Reruns reuse the workspace's response cache.
2. Template generators, in this process: the benchmark compiler (``compile_unit``: templates
   and every per-item gate) and the SFT templates (``templates.generate``) over the whole
   core, repeated for ``--repeats`` seeds so the timing is not noise.
3. The stages on Ray (``bench``, ``build`` with decontamination): wall time.
4. The LLM path with the same engine, uncached: benchmark items (LLM-written, then the
   engine answerability check) on ``--llm-chains`` chains; SFT samples on ``--llm-jobs``
   facts. Items/s, samples/s and tokens per generated and per accepted item.

Writes results/tester_builder.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from proda_ray.builder import templates as sft_templates
from proda_ray.builder.config import BuildConfig
from proda_ray.builder.llm import llm_samples
from proda_ray.builder.stage import BuildStage
from proda_ray.engines import CachedEngine
from proda_ray.engines.base import LocalEngineConfig
from proda_ray.engines.local import LlamaCppEngine
from proda_ray.knowledge.config import ExtractConfig, MergeConfig
from proda_ray.knowledge.merge_stage import MergeStage
from proda_ray.knowledge.stage import ExtractStage
from proda_ray.runtime import ensure_ray
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.stage import SpecStage
from proda_ray.tester.compile import compile_unit, pools
from proda_ray.tester.config import BenchConfig
from proda_ray.tester.stage import BenchStage
from proda_ray.workspace import Workspace, run_stage

OPENSTAX = Path(__file__).resolve().parents[2] / "shared/corpora/openstax"
BOOKS = ["001_physics.jsonl.gz", "006_microbiology.jsonl.gz"]


def table(ws: Workspace, stage: str, name: str) -> list[dict]:
    m = ws.read_json(f"stages/{stage}/manifest.json")
    return ws.read_parquet(m["outputs"][name]["path"]).to_pylist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--workspace", default="workspaces/bench-tester-builder")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--llm-chains", type=int, default=4)
    ap.add_argument("--llm-jobs", type=int, default=8)
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    ensure_ray(None, None)
    spec = SpecConfig(corpus=[str(OPENSTAX / b) for b in BOOKS])
    spec.chunk.max_tokens = args.chunk_tokens
    t0 = time.perf_counter()
    run_stage(ws, SpecStage(spec), show_progress=False)
    run_stage(ws, ExtractStage(ExtractConfig(limit=args.limit), workers=1),
              show_progress=False)
    run_stage(ws, MergeStage(MergeConfig()), show_progress=False)
    kc_s = time.perf_counter() - t0
    chains, stmts = table(ws, "merge", "chains"), table(ws, "merge", "statements")
    concepts = table(ws, "merge", "concepts")
    meta = {c["chain_id"]: c for c in chains}
    for s in stmts:
        s["discipline_code"] = meta[s["chain_id"]]["discipline_code"]
        s["domain"] = meta[s["chain_id"]]["domain_context"]
    rows = []

    # --- templates, in process -----------------------------------------------------------
    # the chain templates: this measures their throughput (the closed-book types need the
    # whole core and are timed by bench_quality.py)
    cfg = BenchConfig(kinds=["process_order", "causal_chain", "next_step", "step_after"])
    pool = pools(chains, stmts)
    t0 = time.perf_counter()
    cands = items = 0
    for seed in range(args.repeats):
        out = compile_unit(chains, stmts, pool, cfg.model_copy(update={"seed": seed}))
        cands += sum(v for k, v in out.counters.items() if k.startswith("candidates:"))
        items += len(out.items)
    dt = time.perf_counter() - t0
    rows.append({"path": "bench templates (compile_unit, gates)", "units": items,
                 "seconds": dt, "per_s": items / dt, "candidates": cands,
                 "accepted_share": items / max(1, cands), "tokens_per_unit": 0})
    bcfg = BuildConfig()
    t0 = time.perf_counter()
    samples = 0
    for seed in range(args.repeats):
        got, _ = sft_templates.generate(stmts, concepts, samples_per_statement=2.0,
                                        ratios=bcfg.ratios, seed=seed)
        samples += len(got)
    dt = time.perf_counter() - t0
    rows.append({"path": "build templates (generate)", "units": samples, "seconds": dt,
                 "per_s": samples / dt, "tokens_per_unit": 0})

    # --- the stages on Ray -----------------------------------------------------------------
    b = run_stage(ws, BenchStage(cfg), force=True, show_progress=False)
    rows.append({"path": "bench stage on Ray (wall)", "units": b.manifest.counters["items"],
                 "seconds": b.seconds, "per_s": b.manifest.counters["items"] / b.seconds,
                 "tokens_per_unit": 0})
    s = run_stage(ws, BuildStage(bcfg), force=True, show_progress=False)
    rows.append({"path": "build stage on Ray incl. decontam (wall)",
                 "units": s.manifest.counters["samples"], "seconds": s.seconds,
                 "per_s": s.manifest.counters["samples"] / s.seconds, "tokens_per_unit": 0,
                 "timings_s": s.manifest.timings_s})

    # --- the LLM path (same engine, uncached) ----------------------------------------------
    engine = CachedEngine(LlamaCppEngine(LocalEngineConfig()), None)
    some = chains[: args.llm_chains]
    lcfg = BenchConfig(generators=["llm"], items_per_chain=1)
    t0 = time.perf_counter()
    out = compile_unit(some, [x for x in stmts if x["chain_id"] in {c["chain_id"]
                                                                     for c in some}],
                       pools(some, stmts), lcfg, engine)
    dt = time.perf_counter() - t0
    tok = engine.usage.prompt_tokens + engine.usage.completion_tokens
    gen = out.counters.get("candidates:llm", 0) + out.counters.get(
        "rejected:generate:invalid_json", 0)
    rows.append({"path": "bench LLM items + engine answerability", "units": len(out.items),
                 "seconds": dt, "per_s": len(out.items) / dt, "calls": engine.usage.calls,
                 "generated": out.counters.get("candidates:llm", 0),
                 "tokens_per_unit": tok / max(1, out.counters.get("candidates:llm", 0)),
                 "tokens_per_accepted": tok / len(out.items) if out.items else None,
                 "rejected": {k: v for k, v in out.counters.items()
                              if k.startswith("rejected:")}, "attempted": gen})
    engine.usage = type(engine.usage)()
    jobs = [{"statement": x, "task": t} for x, t in
            zip(stmts, ["qa", "single_choice", "true_false", "multi_choice"] * 99,
                strict=False)][
                : args.llm_jobs]
    cmap = {c["concept_id"]: c for c in concepts}
    t0 = time.perf_counter()
    made, failed = llm_samples(jobs, cmap, engine, 0.5, 700, 2, 0)
    dt = time.perf_counter() - t0
    tok = engine.usage.prompt_tokens + engine.usage.completion_tokens
    rows.append({"path": "build LLM samples", "units": len(made), "seconds": dt,
                 "per_s": len(made) / dt, "calls": engine.usage.calls,
                 "tokens_per_unit": tok / max(1, len(jobs)),
                 "tokens_per_accepted": tok / len(made) if made else None,
                 "rejected": sorted(e.split(":")[0] for _, e in failed)})

    print(f"knowledge core: {len(chains)} chains, {len(stmts)} statements, "
          f"{len(concepts)} concepts from {args.limit} chunks ({kc_s:.0f} s incl. cache)")
    print(f"{'path':45} {'units':>7} {'s':>8} {'units/s':>10} {'tokens/unit':>12}")
    for r in rows:
        print(f"{r['path']:45} {r['units']:>7} {r['seconds']:>8.2f} {r['per_s']:>10.2f} "
              f"{r['tokens_per_unit']:>12.0f}")
    out_path = Path(__file__).with_name("results") / "tester_builder.json"
    out_path.write_text(json.dumps({
        "machine": "2-core CPU, no GPU", "limit": args.limit, "chunk_tokens": args.chunk_tokens,
        "repeats": args.repeats, "knowledge_core": {"chains": len(chains),
                                                    "statements": len(stmts),
                                                    "concepts": len(concepts)},
        "rows": rows}, indent=2, default=str))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
