"""Repair you can measure: the loop on real textbooks with a blind control arm (issue 13).

    python benchmarks/loop.py --docs 16 --steps 32 --replay-ratio 0.35 --workspace DIR
        [--rounds 2] [--scoring cloze]

The workspace of ``bench_quality.py`` (the same 24 documents from each of five OpenStax books:
spec -> extract -> merge, reused when it is there) -> bench (defaults: dev / test /
transfer) -> build -> round 1: train the Gemma 3 270M student (LoRA) on ``sft_v1`` -> eval
(and the untrained base) -> for each repair round n = 2..rounds: debug (dev failures ->
patches, and the blind control dataset) -> train the targeted and the blind student from the
same base with the same steps -> eval both. Prints and writes (``results/loop.json``) one table:
accuracy on ``test`` and ``transfer`` per model with cluster intervals, each repair round's
targeted − previous and targeted − blind (paired, with the smallest detectable effect), the
training losses, and the wall time of every stage.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chain_quality
import knowledge_quality as kq

SPLITS = ("test", "transfer", "dev")


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _acc(o: dict | None) -> str:
    if not o:
        return "–"
    return f"{_pct(o['accuracy'])} [{_pct(o['ci'][0])}, {_pct(o['ci'][1])}] (n={o['items']})"


def _diff(c: dict | None) -> str:
    if not c:
        return "–"
    return (f"{100 * c['diff']:+.1f} [{100 * c['diff_ci'][0]:+.1f}, {100 * c['diff_ci'][1]:+.1f}]"
            f" ±{100 * c['detectable']:.1f}")


def main() -> None:
    ap = kq.arguments(24, "loop.json")
    ap.add_argument("--steps", type=int, default=120, help="optimizer steps per training")
    ap.add_argument("--rounds", type=int, default=2, help="1 + the repair rounds")
    ap.add_argument("--replay-ratio", type=float, default=None,
                    help="patch share of a repair round's data (debug.replay_ratio; default: "
                    "replay every untouched earlier sample)")
    ap.add_argument("--scoring", default="cloze", choices=["cloze", "loglikelihood"],
                    help="how every model is scored (cloze: each option's text after the "
                    "question; loglikelihood: the letters)")
    args = ap.parse_args()

    from proda_ray.builder.config import BuildConfig
    from proda_ray.builder.stage import BuildStage
    from proda_ray.compile.config import load_preset
    from proda_ray.compile.stage import TrainStage
    from proda_ray.debugger.config import DebugConfig
    from proda_ray.debugger.stage import DebugStage
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.evaluate.stage import EvalStage
    from proda_ray.knowledge.config import ExtractConfig
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import run_stage

    root = Path(args.workspace or tempfile.mkdtemp(prefix="loop-"))
    t_all = time.perf_counter()
    times: dict[str, float] = {}

    def run(stage):
        t0 = time.perf_counter()
        r = run_stage(ws, stage)
        times[stage.name] = round(time.perf_counter() - t0, 1)
        print(f"{stage.name}: {r.status} in {times[stage.name]} s", flush=True)
        return r.manifest

    ws, _, _ = kq.build_core(root, args.docs, chain_quality.BOOKS, ExtractConfig())
    bench = run(BenchStage(BenchConfig()))
    build = run(BuildStage(BuildConfig()))
    cpus = min(2, os.cpu_count() or 1)  # one trainer or engine at a time: it gets the box
    # one worker with both cores (DDP: no DeepSpeed bookkeeping on a 2-core box), short
    # packed sequences
    train = load_preset("cpu-gemma-270m").model_copy(update={
        "num_workers": 1, "cpus_per_worker": cpus, "strategy": "ddp", "micro_batch_size": 4,
        "grad_accum": 1,
        "max_seq_len": 256, "max_steps": args.steps, "checkpoint_every": 40,
        "val_every": 40})
    ev = EvalConfig(model="trained", workers=1, cpus_per_worker=cpus, scoring=args.scoring)
    evals: dict[str, dict] = {}
    losses: dict[str, dict] = {}

    def trained(stage) -> None:
        m = run(stage)
        losses[stage.name] = {k: m.report.get(k) for k in ("first_loss", "last_loss",
                                                            "last_val_loss", "steps")}
        losses[stage.name]["steps"] = m.counters.get("steps")

    trained(TrainStage(train))
    evals["round 1"] = run(EvalStage(ev)).report
    evals["base"] = run(EvalStage(ev.model_copy(update={"model": "base"}), label="base")).report
    debug = {}
    for r in range(2, args.rounds + 1):
        debug[r] = run(DebugStage(DebugConfig(replay_ratio=args.replay_ratio),
                                  round=r - 1)).report
        for arm in (None, "blind"):
            trained(TrainStage(train, round=r, arm=arm))
        evals[f"round {r} targeted"] = run(EvalStage(ev, round=r)).report
        evals[f"round {r} blind"] = run(EvalStage(ev, round=r, arm="blind")).report

    n_samples = build.outputs["sft_samples"].rows
    print(f"\nbench: {bench.report['splits']} · build: {n_samples} samples")
    print("\n| model | " + " | ".join(SPLITS) + " |\n|---|---|---|---|")
    first = evals["round 1"]["overall"]
    print("| *prior* | " + " | ".join(
        f"{_pct(first[s]['prior']['accuracy'])}" if s in first else "–" for s in SPLITS) + " |")
    for name, rep in evals.items():
        print(f"| {name} | " + " | ".join(_acc(rep["overall"].get(s)) for s in SPLITS) + " |")
    comparisons = {}
    for r in range(2, args.rounds + 1):
        tgt, bl = evals[f"round {r} targeted"], evals[f"round {r} blind"]
        comparisons[r] = {"targeted_vs_previous": tgt.get("vs_previous", {}),
                          "targeted_vs_blind": bl.get("vs_targeted", {}),
                          "blind_vs_previous": bl.get("vs_previous", {})}
        print(f"\nround {r}: change [95% CI] ±detectable")
        for what, c in comparisons[r].items():
            print(f"  {what:22s} " + " · ".join(f"{s} {_diff(c.get(s))}" for s in SPLITS))
        d = debug[r]
        print(f"  debug: {d['failed']} failed dev items, patches {d['patches_by_task']}, "
              f"blind {d['blind']}, replay {d['replay']}")
    print(f"\nlosses: {losses}")
    total = round(time.perf_counter() - t_all, 1)
    print(f"total {total} s")
    out = {"command": "python benchmarks/loop.py " + " ".join(sys.argv[1:]),
           "docs_per_book": args.docs, "books": chain_quality.BOOKS, "steps": args.steps,
           "rounds": args.rounds, "scoring": args.scoring, "replay_ratio": args.replay_ratio,
           "bench": bench.report.get("splits"),
           "build_samples": n_samples,
           "evals": {k: {"overall": v["overall"], "by_question_type": v.get("by_question_type")}
                     for k, v in evals.items()},
           "comparisons": comparisons, "debug": debug, "losses": losses, "seconds": times,
           "total_s": total}
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
