"""The benchmark on unseen textbooks: closed-book items, their validity, a judged sample, and
the untrained base model under both scoring modes beside the authors' own questions.

    python benchmarks/bench_quality.py [--docs 24] [--seed 7] [--workspace DIR]

1. ``--docs`` documents from the middle of each of five OpenStax books (microbiology,
   chemistry, psychology, sociology, physics) -> spec -> extract (all levels, the embedded
   local engine) -> merge -> bench with its defaults: the closed-book types
   (``definition_match`` L1, ``statement_truth`` L2, ``step_after`` L3), the validity suite
   enforced (a type whose best form-only solver beats the answer-pattern prior by more than
   5 points is not shipped), and the ``reference`` split: the authors' keyed exercises.
2. Prints the suite's table over the shipped items (every solver's accuracy per type, next to
   the prior, with 95% Wilson intervals) and the reference items per book.
3. A seeded sample of 20 generated items, each with the knowledge it was built from, printed
   for a person to judge; verdicts live in ``judged/items.csv`` (item id, verdict, why —
   ids only, never corpus text). The judged share is over the sampled items with a verdict.
4. The untrained base model (the bundled Gemma 3 270M as a transformers checkpoint), one
   prompt format (proda's plain chat template), scored by generation (constrained to the
   answer sets, and free text) and by log-likelihood:
   accuracy per split with the prior's chance interval beside it.

Writes results/bench_quality.json.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chain_quality
import knowledge_quality as kq

from proda_ray.ids import content_hash

JUDGED = Path(__file__).parent / "judged" / "items.csv"


def _table(ws, stage: str, name: str) -> list[dict]:
    m = ws.read_json(f"stages/{stage}/manifest.json")
    return ws.read_parquet(m["outputs"][name]["path"]).to_pylist()


def render(item: dict, core: dict) -> str:
    """The item and the knowledge it was built from (for the judge)."""
    lines = [item["question"], *(f"  {c}. {o}" for c, o in zip("ABCD", item["options"],
                                                              strict=True)),
             f"  key: {item['answer']}  ({item['question_type']}, {item['level']}, "
             f"{item['split']})"]
    if item["question_type"] == "definition_match":
        for cid in item["concept_ids"] or []:
            c = core["concepts"].get(cid, {})
            src = next((m for m in core["mentions"] if m["term"].lower() == c.get(
                "term", "").lower() and m.get("definition") == c.get("definition")), None)
            lines.append(f"  source ({(src or {}).get('origin')}): "
                         f"{(src or {}).get('source_quote') or c.get('definition')}")
    for sid in item["statement_ids"] or []:
        s = core["statements"].get(sid)
        if s:
            lines.append(f"  statement: [{s['subject']} | {s['predicate']} | {s['object']}] "
                         f"<< {s['source_quote'][:220]}")
    if item.get("chain_id"):
        ch = core["chains"].get(item["chain_id"], {})
        lines.append(f"  chain {ch.get('process_name')!r}: " + " → ".join(ch.get("steps", [])))
    return "\n".join(lines)


def judged_items(items: list[dict], core: dict, seed: int) -> dict:
    gen = sorted((i for i in items if i["split"] in ("dev", "test", "transfer")),
                 key=lambda i: i["item_id"])
    sample = random.Random(seed).sample(gen, min(20, len(gen)))
    judged = {r["item_id"]: r for r in csv.DictReader(JUDGED.open())} if JUDGED.exists() \
        else {}
    print(f"\n===== seeded sample of generated items (seed {seed}) =====")
    verdicts = []
    for it in sample:
        v = judged.get(it["item_id"], {}).get("verdict")
        verdicts.append(v)
        print(f"[{v or 'unjudged'}] {it['item_id']}\n{render(it, core)}\n")
    done = [v for v in verdicts if v]
    return {"sampled": len(sample), "judged": len(done),
            "accepted": sum(v == "ok" for v in done),
            "share": round(sum(v == "ok" for v in done) / len(done), 3) if done else None,
            "by_type": dict(Counter(i["question_type"] for i in sample)),
            "item_ids": [i["item_id"] for i in sample]}


def base_eval(ws, scoring: str, constrain: bool = True) -> dict:
    from proda_ray.engines.models import bundled_gemma_hf
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.evaluate.stage import EvalStage
    from proda_ray.workspace import run_stage

    t0 = time.perf_counter()
    cfg = EvalConfig(model=str(bundled_gemma_hf()), scoring=scoring, constrain=constrain,
                     prompt_format="plain_chat", workers=1)
    label = f"base_{scoring}" + ("" if constrain or scoring != "generate" else "_free")
    r = run_stage(ws, EvalStage(cfg, label=label))
    rep = r.manifest.report
    return {"seconds": round(time.perf_counter() - t0, 1), "overall": rep["overall"],
            "by_question_type": rep["by_question_type"], "parse_status": rep["parse_status"]}


def main() -> None:
    ap = kq.arguments(24, "bench_quality.json")
    ap.add_argument("--no-eval", action="store_true", help="skip the base-model evaluation")
    ap.add_argument("--modes", default="generate,generate_free,loglikelihood",
                    help="base-model scoring modes to run (comma-separated)")
    args = ap.parse_args()

    from proda_ray.knowledge.config import ExtractConfig
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.tester.validity import evaluate, table
    from proda_ray.workspace import run_stage

    root = Path(args.workspace or tempfile.mkdtemp(prefix="bq-"))
    ws, ex, extract_s = kq.build_core(root, args.docs, chain_quality.BOOKS, ExtractConfig())
    t0 = time.perf_counter()
    b = run_stage(ws, BenchStage(BenchConfig()))
    bench_s = time.perf_counter() - t0
    items = ws.read_parquet(b.manifest.outputs["bench_items"].path).to_pylist()
    gen = [i for i in items if i["split"] in ("dev", "test", "transfer")]
    rep = b.manifest.report
    core = {"concepts": {c["concept_id"]: c for c in _table(ws, "merge", "concepts")},
            "statements": {s["statement_id"]: s for s in _table(ws, "merge", "statements")},
            "chains": {c["chain_id"]: c for c in _table(ws, "merge", "chains")},
            "mentions": _table(ws, "extract", "concept_mentions")}
    suite = evaluate(gen, group_key=("chain_id", "chunk_id"))
    print(f"\n{ex.manifest.counters.get('chunks', 0)} chunks ({extract_s:.0f} s extract), "
          f"{len(gen)} generated items shipped ({bench_s:.0f} s bench), by type "
          f"{dict(Counter(i['question_type'] for i in gen))}, splits {rep['splits']}")
    print(f"rejected: {b.manifest.rejected.get('bench_items.rejected', {})}")
    skipped = {k: v for k, v in b.manifest.counters.items()
               if k.startswith("template_not_applicable")}
    print(f"not applicable: {skipped}")
    print(f"\nvalidity suite over the shipped items ({rep['validity']['mode']}):\n")
    print(table(suite))
    print(f"\nreference items per book (discipline): {rep.get('reference_items')}")
    judged = judged_items(items, core, args.seed)
    print(f"judged: {judged['accepted']}/{judged['judged']} ok (sampled {judged['sampled']})")
    evals = {}
    if not args.no_eval:
        for mode, scoring, constrain in (("generate", "generate", True),
                                         ("generate_free", "generate", False),
                                         ("loglikelihood", "loglikelihood", True)):
            if mode not in args.modes.split(","):
                continue
            evals[mode] = e = base_eval(ws, scoring, constrain)
            print(f"\nbase model, {mode} ({e['seconds']} s):")
            for split, o in sorted(e["overall"].items()):
                p = o["prior"]
                inside = p["ci"][0] <= o["accuracy"] <= p["ci"][1]
                print(f"  {split:9s} accuracy {100 * o['accuracy']:5.1f}% (n={o['items']}, "
                      f"unparsed {o['unparsed']})  prior {100 * p['accuracy']:.1f}% "
                      f"[{100 * p['ci'][0]:.1f}, {100 * p['ci'][1]:.1f}]  "
                      f"{'inside' if inside else 'OUTSIDE'} the prior's interval"
                      + (f"; model − prior {100 * o['vs_prior']['diff']:+.1f} "
                         f"[{100 * o['vs_prior']['ci'][0]:+.1f}, "
                         f"{100 * o['vs_prior']['ci'][1]:+.1f}] paired: "
                         f"{'at chance' if o['vs_prior']['at_chance'] else 'NOT at chance'}"
                         if o.get("vs_prior") else ""))
    sha = content_hash("\n".join(sorted(i["item_id"] for i in items)))
    prev = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    if prev.get("items_sha") == sha:  # the same benchmark: keep the modes not re-run
        evals = {**prev.get("base_model", {}), **evals}
    out = {"command": "python benchmarks/bench_quality.py " + " ".join(sys.argv[1:]),
           "items_sha": sha,
           "docs_per_book": args.docs, "books": chain_quality.BOOKS,
           "chunks": ex.manifest.counters.get("chunks"), "extract_s": round(extract_s, 1),
           "bench_s": round(bench_s, 1), "items": len(gen),
           "by_type": dict(Counter(i["question_type"] for i in gen)),
           "splits": rep["splits"], "rejected": b.manifest.rejected,
           "not_applicable": skipped,
           "validity": suite, "reference_items": rep.get("reference_items"),
           "judged": judged, "base_model": evals}
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
