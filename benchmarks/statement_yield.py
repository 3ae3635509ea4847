"""Why L2 statements do not become ``statement_truth`` options: each merged statement of a
workspace through the template's filters, in order, and documents by how many items their
usable statements could make.

    python benchmarks/statement_yield.py WORKSPACE [--out results/statement_yield.json]

WORKSPACE: one with a merge stage (e.g. ``bench_quality.py``'s ``DIR/ws``).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    from proda_ray.tester import closed_book as cb
    from proda_ray.workspace import Workspace

    ap = argparse.ArgumentParser()
    ap.add_argument("workspace")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "statement_yield.json"))
    args = ap.parse_args()
    ws = Workspace(args.workspace)

    def table(name: str) -> list[dict]:
        m = ws.read_json("stages/merge/manifest.json")
        return ws.read_parquet(m["outputs"][name]["path"]).to_pylist()

    stmts = table("statements")
    terms = [t for t in (frozenset(cb.stems(c["term"])) for c in table("concepts")) if t]
    why: Counter = Counter()
    by_doc: dict[str, list[dict]] = {}
    for s in stmts:
        subj = s["subject"].strip()
        if not any(t <= cb.stems(subj) for t in terms):
            why["subject_names_no_concept_term"] += 1
        elif cb.render(s) is None and (s.get("source_quote") or "").strip():
            why["not_in_order_in_quote_or_cut_mid_phrase"] += 1
        elif not cb.usable_statement(s, terms=None):
            why["too_short_long_or_pronoun"] += 1
        else:
            why["usable"] += 1
            by_doc.setdefault(s.get("doc_id") or "", []).append(s)
    docs = Counter(min(len(cb.usable_statements(v)) // 4, 3) for v in by_doc.values())
    print(f"{len(stmts)} statements")
    print("| filter | statements |\n|---|---:|")
    for k, v in why.most_common():
        print(f"| {k} | {v} |")
    print("\n| items a document's usable statements make (doc-wide dedup) | documents |")
    print("|---|---:|")
    for k in sorted(docs):
        print(f"| {k}{'+' if k == 3 else ''} | {docs[k]} |")
    out = {"command": f"python benchmarks/statement_yield.py {args.workspace}",
           "statements": len(stmts), "filters": dict(why),
           "documents_by_items": {str(k): v for k, v in sorted(docs.items())}}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
