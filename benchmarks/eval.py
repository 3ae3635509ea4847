"""Evaluation throughput: items/s per engine available here vs a plain transformers loop.

    python benchmarks/eval.py [--items 48] [--workspace workspaces/bench-tester-builder]

The benchmark items of a workspace (default: the OpenStax one ``tester_builder.py`` builds)
are answered by the bundled Gemma 3 270M (a base model: the untrained reference every round
is read against), greedy, 16 new tokens, the evaluator's own prompt:

1. plain: ``AutoModelForCausalLM.generate`` one item at a time (what a hand-written
   evaluation loop does) — the baseline;
2. transformers engine: proda's engine (left-padded batches of 8, same model and dtype);
3. eval stage: the whole ``EvalStage`` on Ray (actor start, model load, scoring, tables,
   bootstrap report), uncached;
4. local engine: llama.cpp on the Q4_K_M GGUF the model came from (a different numeric
   format: its answers may differ).

Every path answers the same items; the table shows items/s, the ratio to the plain loop
and the accuracy each produced (a sanity check that the paths agree). Writes
results/eval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from proda_ray.answering import answer_items, extract_answer, score
from proda_ray.engines.base import LocalEngineConfig, TransformersEngineConfig, build_engine
from proda_ray.engines.models import bundled_gemma_hf
from proda_ray.exports import mcq_prompt
from proda_ray.workspace import Workspace

MAX_NEW = 16
STOP = ["\nQuestion:", "\n\n"]


def plain_loop(model_dir: str, items: list[dict]) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    outs = []
    with torch.no_grad():
        for it in items:
            ids = tok(mcq_prompt(it), return_tensors="pt")
            gen = model.generate(**ids, max_new_tokens=MAX_NEW, do_sample=False)
            text = tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
            for s in STOP:
                text = text.split(s)[0]
            outs.append(text)
    return outs


def letters(items: list[dict], texts: list[str]) -> list[str]:
    return [extract_answer(t, it["options"])[0] for it, t in zip(items, texts, strict=True)]


def accuracy(items: list[dict], preds: list[str]) -> float:
    return sum(bool(p) and score(p, it["answer"])[0]
               for it, p in zip(items, preds, strict=True)) / len(items)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--workspace", default="workspaces/bench-tester-builder")
    ap.add_argument("--skip-stage", action="store_true", help="skip the Ray stage path")
    args = ap.parse_args()
    src = Workspace(args.workspace)
    m = src.read_json("stages/bench/manifest.json")
    items = sorted(src.read_parquet(m["outputs"]["bench_items"]["path"]).to_pylist(),
                   key=lambda r: r["item_id"])[:args.items]
    model_dir = str(bundled_gemma_hf())
    rows = []

    ref: list[str] = []

    def record(name: str, seconds: float, preds: list[str]):
        if not ref:
            ref.extend(preds)
        rows.append({"path": name, "items": len(items), "seconds": round(seconds, 2),
                     "items_per_s": round(len(items) / seconds, 3),
                     "accuracy": round(accuracy(items, preds), 4),
                     "same_answer_as_plain": round(sum(a == b for a, b in zip(
                         preds, ref, strict=True)) / len(items), 4)})
        print(json.dumps(rows[-1]), flush=True)

    t0 = time.perf_counter()
    texts = plain_loop(model_dir, items)
    record("plain transformers loop (batch 1)", time.perf_counter() - t0, letters(items, texts))

    t0 = time.perf_counter()
    eng = build_engine(TransformersEngineConfig(model_path=model_dir, batch_size=8))
    res = answer_items(eng, items, MAX_NEW, STOP)
    record("transformers engine (batch 8)", time.perf_counter() - t0,
           [r["predicted"] for r in res])

    if not args.skip_stage:
        from proda_ray.evaluate.config import EvalConfig
        from proda_ray.evaluate.stage import EvalStage
        from proda_ray.runtime import ensure_ray
        from proda_ray.workspace import run_stage

        ensure_ray(num_cpus=os.cpu_count() or 2)
        tmp = Path(tempfile.mkdtemp())
        try:  # a fresh workspace holding only these items: no cache, nothing up to date
            ws = Workspace(tmp / "ws")
            import pyarrow as pa

            from proda_ray.schema import BENCH_ITEMS
            from proda_ray.workspace.stage import StageContext

            ctx = StageContext(ws, "bench", "benchmark")
            ctx.write_table("bench_items", pa.Table.from_pylist(items, schema=BENCH_ITEMS))
            from proda_ray.workspace.manifest import StageManifest

            ws.write_json("stages/bench/manifest.json", StageManifest(
                stage="bench", fingerprint="benchmark", code_version="-", proda_version="-",
                config={}, inputs={}, outputs={"bench_items": ctx.table_info("bench_items")},
                started_at=StageManifest.now(), finished_at=StageManifest.now()
            ).model_dump(mode="json"))
            t0 = time.perf_counter()
            r = run_stage(ws, EvalStage(EvalConfig(model=model_dir), label="bench"),
                          show_progress=False)
            seconds = time.perf_counter() - t0
            got = {p["item_id"]: p["predicted"] for p in ws.read_parquet(
                r.manifest.outputs["predictions.bench"].path).to_pylist()}
            record("eval stage on Ray (1 actor, batch 8, incl. start-up)", seconds,
                   [got[it["item_id"]] for it in items])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    t0 = time.perf_counter()
    local = build_engine(LocalEngineConfig())
    res = answer_items(local, items, MAX_NEW, STOP)
    record("local engine (llama.cpp, Q4_K_M GGUF)", time.perf_counter() - t0,
           [r["predicted"] for r in res])

    base = rows[0]["items_per_s"]
    for r in rows:
        r["vs_plain"] = round(r["items_per_s"] / base, 2)
    print(f"\n{'path':56} {'items/s':>8} {'vs plain':>9} {'accuracy':>9} {'same':>6}")
    for r in rows:
        print(f"{r['path']:56} {r['items_per_s']:8.2f} {r['vs_plain']:8.2f}x "
              f"{100 * r['accuracy']:8.1f}% {100 * r['same_answer_as_plain']:5.0f}%")
    out = Path(__file__).parent / "results" / "eval.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(),
                                           "python": platform.python_version()},
                               "model": "Gemma 3 270M (bundled, base)", "max_new_tokens": MAX_NEW,
                               "workspace": args.workspace, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
