"""The training loop under DeepSpeed's own launcher (or torchrun), without Ray.

The same ``train_loop`` function Ray Train runs, with a ``FileReporter``: metrics go to
``<out>/metrics.jsonl``, checkpoints to ``<out>/checkpoints``, the model to ``<out>/model``.
For GPU validation and throughput runs on machines without Ray, and for debugging a loop
outside Ray.

    # GPU: a random-init Qwen2.5-3B shape, ZeRO-2, synthetic tokens, 1 GPU
    deepspeed --num_gpus 1 jobs/train_ds.py --arch qwen2.5-3b --synthetic 512 \
        --preset gpu-3b-zero2 --set max_steps=20 --out /tmp/run
    # the SFT data a workspace's train stage prepared, on CPU with 2 processes
    torchrun --nproc_per_node 2 jobs/train_ds.py --data ws/stages/train/runs/<fp>/data.npz \
        --model-dir ws/stages/train/runs/<fp>/tiny-base --preset cpu-tiny --out /tmp/run

A killed run started again with the same ``--out`` resumes from its latest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout


def synthetic_data(n: int, seq_len: int, vocab: int, seed: int = 0) -> dict:
    """``n`` random sequences of ``seq_len`` tokens, every token a target (throughput runs)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.integers(10, vocab, size=(n, seq_len), dtype=np.int64)
    pos = np.tile(np.arange(seq_len, dtype=np.int64), (n, 1))
    return {"train_input_ids": ids, "train_labels": ids.copy(), "train_position_ids": pos}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="a prepared data.npz (from a train stage run)")
    src.add_argument("--synthetic", type=int, metavar="N", help="N random sequences")
    mdl = ap.add_mutually_exclusive_group(required=True)
    mdl.add_argument("--model-dir", help="a local HF model directory (the base)")
    mdl.add_argument("--arch", help="random-init model of this shape "
                     "(qwen2.5-0.5b|1.5b|3b|7b, llama-3.2-1b)")
    ap.add_argument("--preset", default="cpu-tiny", help="a training preset (proda train)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a TrainConfig field, e.g. max_steps=20")
    ap.add_argument("--out", required=True, help="output directory (shared by all ranks)")
    ap.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import numpy as np
    import torch.distributed as dist
    import yaml

    from proda_ray.compile.config import TrainConfig, load_preset
    from proda_ray.compile.loop import train_loop
    from proda_ray.compile.report import FileReporter

    cfg = load_preset(args.preset)
    updates = {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        updates[key.removeprefix("train.")] = yaml.safe_load(value)
    cfg = TrainConfig.model_validate({**cfg.model_dump(), **updates})
    # the launcher decides the world size; the config's Ray worker count does not apply
    cfg = cfg.model_copy(update={"num_workers": int(os.environ.get("WORLD_SIZE", 1))})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", 0))

    model_dir = args.model_dir
    if args.arch:
        model_dir = str(out / f"base-{args.arch}")
        if rank == 0 and not (out / f"base-{args.arch}" / "config.json").exists():
            from proda_ray.engines.models import random_init_lm

            random_init_lm(model_dir, args.arch, max_positions=max(4096, cfg.max_seq_len),
                           seed=cfg.seed)
    data_path = args.data
    if args.synthetic:
        data_path = str(out / "synthetic.npz")
        if rank == 0 and not Path(data_path).exists():
            from transformers import AutoConfig

            vocab = AutoConfig.from_pretrained(model_dir).vocab_size if not args.arch else 32000
            np.savez(data_path, **synthetic_data(args.synthetic, cfg.max_seq_len, vocab,
                                                 cfg.seed))

    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if cfg.use_gpu else "gloo")
    dist.barrier()  # rank 0 built the model and data
    train_loop({"train": cfg.model_dump(mode="json"), "model_dir": model_dir,
                "reporter": FileReporter(str(out), data_path),
                "export_dir": str(out)})
    if rank == 0:
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        rows = sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])
        steady = rows[2:] or rows  # the first steps include warm-up (allocation, JIT)
        summary = {"strategy": cfg.strategy, "world": cfg.num_workers, "steps": len(rows),
                   "tokens_per_s": statistics.median(r["tokens_per_s"] for r in steady),
                   "mfu": (statistics.median(r["mfu"] for r in steady)
                           if steady and steady[0].get("mfu") is not None else None),
                   "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"]}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary), flush=True)
    dist.barrier()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
