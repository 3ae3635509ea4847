"""Knowledge quality on unseen textbooks: yield, cost, glossary recall, judged samples.

    python benchmarks/knowledge_quality.py [--docs 10] [--limit 48] [--seed 7]

1. A corpus of ``--docs`` documents from each of four OpenStax books in four disciplines
   (microbiology, economics, chemistry, psychology) -> ``spec`` -> ``extract`` (embedded
   local engine, fresh workspace, ``--limit`` expository chunks) -> ``merge``.
2. Prints: chunk roles, seconds per expository chunk, tokens per chunk by level, the share of
   nodes grounded by the miner alone, nodes per expository chunk.
3. **Glossary recall**, measured independently of the miner: the terms of the author-written
   glossaries of the extracted chunks' documents (parsed here, from the raw corpus) that occur
   in those chunks' text (word boundary, case-insensitive) and became a concept mined from
   running text (not from a glossary line), exact match after normalization.
4. A seeded sample of 20 chains / statements / concepts with their sources, printed for a
   person to judge (``proda audit`` prints the same). Verdicts live in
   ``benchmarks/judged/knowledge.csv`` (level, node id, verdict, why) — node ids and verdicts
   only, never the corpus text; the text is re-read from the workspace. Judged shares are
   computed over the sampled nodes that have a verdict.

Writes results/knowledge_quality.json.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OPENSTAX = Path(__file__).resolve().parents[2] / "shared/corpora/openstax"
BOOKS = ["006_microbiology.jsonl.gz", "011_principles-economics-3e.jsonl.gz",
         "007_chemistry-2e.jsonl.gz", "015_psychology-2e.jsonl.gz"]
JUDGED = Path(__file__).parent / "judged" / "knowledge.csv"


def corpus(out: Path, docs: int, books: list[str] | None = None) -> list[dict]:
    """``docs`` documents per book, from the middle of each book (chapters 3+)."""
    rows = []
    for book in books or BOOKS:
        with gzip.open(OPENSTAX / book, "rt") as f:
            all_docs = [json.loads(line) for line in f]
        start = len(all_docs) // 3
        rows += all_docs[start : start + docs]
    # mtime=0: the same documents give the same bytes, so a rerun's spec (and all after it)
    # is up to date instead of redone
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
    return rows


def author_glossary(text: str) -> list[str]:
    """Terms of the lines after a "Glossary" heading: ``term: meaning`` (own parser)."""
    lines = text.split("\n")
    try:
        at = max(i for i, line in enumerate(lines) if line.strip() == "Glossary")
    except ValueError:
        return []
    terms = []
    for line in lines[at + 1 :]:
        m = re.match(r"^([^:]{2,60}?)(?:\s*\([^)]*\))?:\s+\S", line)
        if m:
            terms.append(m.group(1).strip())
    return terms


def norm(t: str) -> str:
    from proda_ray.knowledge.merge import normalize_term

    return normalize_term(t)


def build_core(root: Path, docs: int, books: list[str], extract_cfg):
    """corpus -> spec -> extract -> merge in the workspace ``root/ws`` (reruns reuse it):
    (workspace, the extract stage's result, extract seconds)."""
    from proda_ray.knowledge.config import MergeConfig
    from proda_ray.knowledge.merge_stage import MergeStage
    from proda_ray.knowledge.stage import ExtractStage
    from proda_ray.runtime import ensure_ray
    from proda_ray.spec.config import SpecConfig
    from proda_ray.spec.stage import SpecStage
    from proda_ray.workspace import Workspace, run_stage

    root.mkdir(parents=True, exist_ok=True)
    corpus(root / "corpus.jsonl.gz", docs, books)
    ws = Workspace(str(root / "ws"))
    ensure_ray(None)
    run_stage(ws, SpecStage(SpecConfig(corpus=[str(root / "corpus.jsonl.gz")])))
    t0 = time.perf_counter()
    ex = run_stage(ws, ExtractStage(extract_cfg, workers=2))
    extract_s = time.perf_counter() - t0
    run_stage(ws, MergeStage(MergeConfig()))  # the audit samples read the merged tables
    return ws, ex, extract_s


def arguments(docs: int, result: str) -> argparse.ArgumentParser:
    """The options the knowledge benchmarks share: documents per book, the sample's seed, a
    workspace to reuse, where the JSON goes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=docs)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workspace", default=None, help="reuse a workspace (cached calls)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / result))
    return ap


def judged_sample(ws, level: str, seed: int) -> dict:
    """Print the seeded sample of 20 ``level`` nodes with their verdicts from ``JUDGED``;
    return the counts (sampled, judged, accepted, share of the judged, node ids)."""
    from proda_ray.audit import sample_nodes

    sheet = "concepts" if level == "definitions" else level  # the same mention nodes
    judged = {r["node_id"]: r["verdict"] for r in csv.DictReader(JUDGED.open())
              if r["level"] == sheet} if JUDGED.exists() else {}
    rows = sample_nodes(ws, level, 20, seed)
    verdicts = [judged.get(r["node_id"]) for r in rows]
    done = [v for v in verdicts if v]
    print(f"\n===== {level}: seeded sample (seed {seed}) =====")
    for r, v in zip(rows, verdicts, strict=True):
        print(f"[{v or 'unjudged'}] {r['node_id']}\n{r['render']}\n")
    return {"sampled": len(rows), "judged": len(done), "node_ids": [r["node_id"] for r in rows],
            "accepted": sum(v == "ok" for v in done),
            "share": round(sum(v == "ok" for v in done) / len(done), 3) if done else None}


def main() -> None:
    ap = arguments(10, "knowledge_quality.json")
    ap.add_argument("--limit", type=int, default=48)
    args = ap.parse_args()

    from proda_ray.knowledge.config import ExtractConfig

    root = Path(args.workspace or tempfile.mkdtemp(prefix="kq-"))
    ws, ex, extract_s = build_core(root, args.docs, BOOKS, ExtractConfig(limit=args.limit))
    m = ex.manifest
    c = m.counters
    n_expo = c.get("role:expository", 0)
    chunks = {r["chunk_id"]: r for r in ws.read_parquet(
        table_path(ws, "chunks"), columns=["chunk_id", "doc_id", "text"]).to_pylist()}
    mentions = ws.read_parquet(m.outputs["concept_mentions"].path).to_pylist()
    extracted = {mm["chunk_id"] for mm in mentions}
    extracted |= {s["chunk_id"] for s in ws.read_parquet(
        m.outputs["extracted_statements"].path, columns=["chunk_id"]).to_pylist()}

    # --- glossary recall (independent parser, raw corpus) -----------------------------------
    doc_text = {}
    for row in ws.read_parquet(table_path(ws, "documents"),
                               columns=["doc_id", "text"]).to_pylist():
        doc_text[row["doc_id"]] = row["text"]
    mined_terms = {norm(mm["term"]) for mm in mentions if mm["origin"] != "glossary"}
    occurring, hits = set(), set()
    for cid in sorted(extracted):
        ch = chunks[cid]
        for term in author_glossary(doc_text.get(ch["doc_id"], "")):
            if re.search(r"\b" + re.escape(term.lower()) + r"\b", ch["text"].lower()) and \
                    not re.search(r"^" + re.escape(term) + r"\s*(\([^)]*\))?:", ch["text"], re.M):
                occurring.add(norm(term))
    hits = occurring & mined_terms
    recall = len(hits) / len(occurring) if occurring else None

    # --- judged samples -----------------------------------------------------------------
    shares = {level: judged_sample(ws, level, args.seed)
              for level in ("chains", "statements", "concepts", "definitions")}

    tok = {lvl: round(c.get(f"tokens:{lvl}", 0) / max(1, n_expo), 1) for lvl in ("l3", "l1")}
    result = {
        "command": "python benchmarks/knowledge_quality.py " + " ".join(sys.argv[1:]),
        "books": BOOKS, "docs_per_book": args.docs,
        "chunk_roles": m.report.get("chunk_roles"),
        "expository_chunks_extracted": n_expo,
        "extract_s": round(extract_s, 1),
        "s_per_expository_chunk": round(extract_s / max(1, n_expo), 2),
        "tokens_per_chunk_by_level": {**tok, "l2": 0},
        "mined_share": m.report.get("mined_share"),
        "per_expository_chunk": m.report.get("per_expository_chunk"),
        "concepts_by_origin": dict(sorted(Counter(mm["origin"] for mm in mentions).items())),
        "nodes": {"chains": c.get("chains", 0), "statements": c.get("statements", 0),
                  "concept_mentions": c.get("mentions", 0)},
        "rejected": m.rejected.get("extraction.rejected", {}),
        "glossary_recall": {"occurring_terms": len(occurring), "mined": len(hits),
                            "recall": round(recall, 3) if recall is not None else None,
                            "missed": sorted(occurring - hits)},
        "judged": shares,
        "workspace": str(root),
    }
    print("\n| figure | value |\n|---|---|")
    for k in ("expository_chunks_extracted", "s_per_expository_chunk", "extract_s"):
        print(f"| {k} | {result[k]} |")
    print(f"| tokens/chunk by level | {result['tokens_per_chunk_by_level']} |")
    print(f"| nodes per expository chunk | {result['per_expository_chunk']} |")
    print(f"| grounded by the miner alone | {result['mined_share']} |")
    print(f"| glossary recall | {result['glossary_recall']} |")
    for level, s in shares.items():
        print(f"| judged {level} | {s} |")
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")


def table_path(ws, table: str) -> str:
    from proda_ray.workspace.runner import table_producers

    return table_producers(ws)[table].outputs[table].path


if __name__ == "__main__":
    main()
