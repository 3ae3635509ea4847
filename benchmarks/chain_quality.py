"""L3 chains on unseen textbooks: how many, how real, judged by a person.

    python benchmarks/chain_quality.py [--docs 60] [--seed 7]

Ordered processes are rare in textbook prose (about one expository chunk in twenty holds
one), so a seeded sample of 20 chains needs far more chunks than ``knowledge_quality.py``
extracts for statements and concepts. This runs the same pipeline with ``levels=["l3"]``
(the miner, the engine's choice of a name, the chain gate; statements and concepts are not
extracted, which is what makes it cheap) over ``--docs`` documents from the middle of each
of five OpenStax books in five disciplines (microbiology, chemistry, psychology, sociology,
physics), with the default local engine.

Prints chains per expository chunk, the rejection reasons of L3 candidates, and a seeded
sample of 20 chains with their sources. Verdicts live in ``benchmarks/judged/knowledge.csv``
(level ``chains``; node ids and verdicts only, never the corpus text). Writes
results/chain_quality.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import knowledge_quality as kq

BOOKS = ["006_microbiology.jsonl.gz", "007_chemistry-2e.jsonl.gz", "015_psychology-2e.jsonl.gz",
         "014_introduction-sociology-3e.jsonl.gz", "001_physics.jsonl.gz"]


def main() -> None:
    args = kq.arguments(60, "chain_quality.json").parse_args()

    from proda_ray.knowledge.config import ExtractConfig

    root = Path(args.workspace or tempfile.mkdtemp(prefix="cq-"))
    ws, ex, extract_s = kq.build_core(root, args.docs, BOOKS, ExtractConfig(levels=["l3"]))
    m = ex.manifest
    c = m.counters
    n_expo = c.get("role:expository", 0)
    chains = ws.read_parquet(m.outputs["extracted_chains"].path).to_pylist()

    judged = kq.judged_sample(ws, "chains", args.seed)
    l3_rejected = {k: v for k, v in m.rejected.get("extraction.rejected", {}).items()
                   if k.startswith("l3:")}
    result = {
        "command": "python benchmarks/chain_quality.py " + " ".join(sys.argv[1:]),
        "books": BOOKS, "docs_per_book": args.docs,
        "chunk_roles": m.report.get("chunk_roles"),
        "expository_chunks": n_expo,
        "extract_s": round(extract_s, 1),
        "chains": len(chains),
        "chains_per_expository_chunk": round(len(chains) / max(1, n_expo), 3),
        "chains_by_discipline": dict(sorted(Counter(
            ch["discipline_code"] for ch in chains).items())),
        "chains_by_origin": dict(sorted(Counter(ch["origin"] for ch in chains).items())),
        "l3_rejected": l3_rejected,
        "judged": judged,
        "workspace": str(root),
    }
    print("\n| figure | value |\n|---|---|")
    for k in ("expository_chunks", "extract_s", "chains", "chains_per_expository_chunk",
              "chains_by_discipline", "chains_by_origin", "l3_rejected", "judged"):
        v = result[k]
        if k == "judged":
            v = {x: y for x, y in v.items() if x != "node_ids"}
        print(f"| {k} | {v} |")
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
