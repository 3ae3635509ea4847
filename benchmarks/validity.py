"""The adversarial validity suite on a benchmark: per question type, how well solvers that
read only stems and options do, next to the answer-pattern prior.

    python benchmarks/validity.py [--docs 60] [--workspace DIR]   # the open-book templates
    python benchmarks/validity.py --items ITEMS.parquet|.jsonl    # any benchmark

Generated mode (the "before" of issue 12): the five OpenStax books of ``chain_quality.py``
(``--docs`` documents each) -> spec -> extract (``levels=["l3", "l2"]``: chains and the
statements inside them, all the chain templates read; no concepts, which is what makes it
cheap) -> merge -> bench with the open-book chain templates (``process_order``,
``causal_chain``, ``next_step``; ``--items-per-chain`` each), validity reported, not enforced
-> the suite (``proda_ray.tester.validity.evaluate``) over every item, dev and test. The
closed-book benchmark that replaced them is measured by ``bench_quality.py``.

Prints the table (type, n, prior with its 95% interval, best solver, its accuracy and
interval, best − prior, form-solvable) and writes results/validity.json with every solver's
accuracy per type.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def generated(root: Path, docs: int, per_chain: int) -> list[dict]:
    import chain_quality
    import knowledge_quality as kq

    from proda_ray.knowledge.config import ExtractConfig
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import run_stage

    ws, _, _ = kq.build_core(root, docs, chain_quality.BOOKS,
                             ExtractConfig(levels=["l3", "l2"]))
    b = run_stage(ws, BenchStage(BenchConfig(
        items_per_chain=per_chain, kinds=["process_order", "causal_chain", "next_step"],
        validity="report", reference_items=False)))
    return ws.read_parquet(b.manifest.outputs["bench_items"].path).to_pylist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--items-per-chain", type=int, default=3)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--items", default=None, help="evaluate this benchmark instead")
    ap.add_argument("--label", default=None, help="what the benchmark is (for the JSON)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "validity.json"))
    args = ap.parse_args()

    from proda_ray.tester.validity import evaluate, table

    if args.items:
        p = Path(args.items)
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            items = pq.read_table(p).to_pylist()
        else:
            items, unreadable = [], 0
            for line in filter(str.strip, p.open()):
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError:
                    unreadable += 1  # counted below with the suite's invalid items
            if unreadable:
                items += ["unreadable JSON line"] * unreadable
        label = args.label or str(p)
    else:
        root = Path(args.workspace or tempfile.mkdtemp(prefix="val-"))
        items = generated(root, args.docs, args.items_per_chain)
        label = args.label or ("generated templates (process_order, causal_chain, next_step) "
                               f"from {args.docs} docs x 5 OpenStax books")
    rep = evaluate(items, group_key=("chain_id", "chunk_id"))
    print(f"\n{label}: {len(items)} items\n")
    print(table(rep))
    print(f"\nform-solvable items (solver family certain): {len(rep['form_solvable_items'])}")
    if rep["invalid_items"]:
        print(f"left out, not well-formed items: {rep['invalid_items']}")
    result = {"command": "python benchmarks/validity.py " + " ".join(sys.argv[1:]),
              "benchmark": label, "items": len(items), **rep}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
