"""Training throughput on CPU: proda-ray's trainer (Ray Train + DeepSpeed) vs a plain loop.

    python benchmarks/train.py [--workspace DIR] [--steps 30] [--hidden 256] [--layers 4]
    python benchmarks/train.py --gemma          # also: cpu-gemma-270m LoRA, a few dozen steps

Data: the SFT samples of a workspace that went through ``build`` (default: the one
``benchmarks/tester_builder.py`` leaves, built from real OpenStax extraction). Model: a
random-init Llama of ``--hidden``/``--layers`` with a tokenizer trained on that data, the same
for every run. Every run trains ``--steps`` optimizer steps on the same packed sequences with
the same global batch (2 x micro-batch 2 x 256 tokens).

* ``plain``: one process, transformers model + torch AdamW, no Ray, no DeepSpeed.
* ``proda ddp|zero2|zero3 Nw``: ``TrainStage`` on N Ray Train workers.

tokens/s counts answer tokens (the ones with loss) per second of step time, steady state
(first step excluded); ``wall`` includes Ray Train / DeepSpeed start-up and the export.
Writes results/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

from proda_ray.compile.config import TrainConfig, load_preset
from proda_ray.compile.data import batch_indices
from proda_ray.compile.stage import TrainStage, prepare
from proda_ray.engines.models import tiny_causal_lm
from proda_ray.runtime import ensure_ray
from proda_ray.workspace import Workspace, run_stage


def plain_loop(model_dir: str, arrays: dict, cfg: TrainConfig, world: int) -> dict:
    """The same steps in one process: global batch = world x micro-batch."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(cfg.seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
    n = len(arrays["train_input_ids"])
    times, tokens, losses = [], [], []
    for step in range(cfg.max_steps):
        t0 = time.perf_counter()
        rows = np.concatenate([batch_indices(n, step=step, micro_step=0, grad_accum=1,
                                             world=world, rank=r, micro=cfg.micro_batch_size,
                                             seed=cfg.seed) for r in range(world)])
        batch = {k: torch.from_numpy(arrays[f"train_{k}"][rows])
                 for k in ("input_ids", "labels", "position_ids")}
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        tokens.append(int((batch["labels"] != -100).sum()))
        losses.append(float(loss))
    steady = sum(tokens[1:]) / sum(times[1:])
    return {"tokens_per_s": steady, "first_loss": losses[0], "last_loss": losses[-1],
            "step_s": statistics.median(times[1:]),
            "params": sum(p.numel() for p in model.parameters())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", default="workspaces/bench-tester-builder")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--gemma", action="store_true", help="Also run the cpu-gemma-270m preset.")
    args = ap.parse_args()
    src = Workspace(args.workspace)
    if not src.exists("stages", "build", "manifest.json"):
        sys.exit(f"{args.workspace} has no build stage: run benchmarks/tester_builder.py first")
    m = src.read_json("stages/build/manifest.json")
    samples = src.read_parquet(m["outputs"]["sft_samples"]["path"]).to_pylist()
    tmp = Path(tempfile.mkdtemp(prefix="proda-train-bench-"))
    model_dir = str(tiny_causal_lm(tmp / "model", [f"{s['prompt']}\n{s['response']}"
                                                   for s in samples],
                                   hidden=args.hidden, layers=args.layers, vocab=2048))
    base = TrainConfig(base=model_dir, max_steps=args.steps, micro_batch_size=2,
                       max_seq_len=256, learning_rate=1e-3, val_fraction=0.0,
                       checkpoint_every=10 ** 6, val_every=10 ** 6)
    arrays, prep = prepare(src, samples, model_dir, base)
    rows = []
    t0 = time.perf_counter()
    plain = plain_loop(model_dir, arrays, base, world=2)
    rows.append({"run": "plain (1 process, no Ray/DeepSpeed)", "wall_s":
                 time.perf_counter() - t0, **plain})
    ensure_ray(None, None)
    for strategy, workers in (("ddp", 2), ("zero2", 1), ("zero2", 2), ("zero3", 2)):
        ws_dir = tmp / f"ws-{strategy}-{workers}"
        shutil.copytree(src.uri, ws_dir, ignore=shutil.ignore_patterns("models", "exports"))
        ws = Workspace(ws_dir)
        cfg = base.model_copy(update={"strategy": strategy, "num_workers": workers})
        if workers == 1:  # same global batch on one worker
            cfg = cfg.model_copy(update={"micro_batch_size": 4})
        t0 = time.perf_counter()
        r = run_stage(ws, TrainStage(cfg), force=True, show_progress=False)
        wall = time.perf_counter() - t0
        met = ws.read_parquet(r.manifest.outputs["train_metrics"].path).to_pylist()[1:]
        rows.append({"run": f"proda {strategy} {workers}w", "wall_s": wall,
                     "tokens_per_s": sum(x["tokens"] for x in met)
                     / sum(x["seconds"] for x in met),
                     "first_loss": r.manifest.report["first_loss"],
                     "last_loss": r.manifest.report["last_loss"],
                     "step_s": statistics.median(x["seconds"] for x in met)})
    gemma = None
    if args.gemma:
        ws_dir = tmp / "ws-gemma"
        shutil.copytree(src.uri, ws_dir, ignore=shutil.ignore_patterns("models", "exports"))
        ws = Workspace(ws_dir)
        cfg = load_preset("cpu-gemma-270m")
        t0 = time.perf_counter()
        r = run_stage(ws, TrainStage(cfg), force=True, show_progress=False)
        met = ws.read_parquet(r.manifest.outputs["train_metrics"].path).to_pylist()
        gemma = {"preset": "cpu-gemma-270m", "steps": len(met), "wall_s":
                 time.perf_counter() - t0, "losses": [round(x["loss"], 4) for x in met],
                 "val_losses": [round(x["val_loss"], 4) for x in met
                                if x["val_loss"] is not None],
                 "tokens_per_s": sum(x["tokens"] for x in met[1:])
                 / sum(x["seconds"] for x in met[1:]), "model": r.manifest.report["model"]}
    ref = rows[0]["tokens_per_s"]
    print(f"data: {prep['train_samples']} samples -> {prep['train_sequences']} packed "
          f"sequences; model hidden {args.hidden}, {args.layers} layers; {args.steps} steps")
    print(f"{'run':40} {'tokens/s':>10} {'vs plain':>9} {'step s':>8} {'wall s':>8} "
          f"{'loss':>15}")
    for r in rows:
        print(f"{r['run']:40} {r['tokens_per_s']:>10.0f} {r['tokens_per_s'] / ref:>9.2f} "
              f"{r['step_s']:>8.3f} {r['wall_s']:>8.1f} "
              f"{r['first_loss']:>7.3f}->{r['last_loss']:.3f}")
    if gemma:
        print(f"cpu-gemma-270m LoRA: {gemma['steps']} steps in {gemma['wall_s']:.0f} s, "
              f"{gemma['tokens_per_s']:.0f} tokens/s, loss {gemma['losses'][0]} -> "
              f"{gemma['losses'][-1]}, val {gemma['val_losses']}")
    out = Path(__file__).with_name("results") / "train.json"
    out.write_text(json.dumps({"machine": "2-core CPU, no GPU", "steps": args.steps,
                               "hidden": args.hidden, "layers": args.layers,
                               "params": plain["params"], "data": prep, "rows": rows,
                               "gemma_lora": gemma}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
