"""A seeded sample of knowledge nodes with their sources, for a person to judge.

``proda audit -w W --level chains|statements|concepts -n 20 --seed S`` prints each sampled
node with the text it came from: a chain's steps with the sentences around them, a
statement's triple with its quote highlighted in context, a concept's definition with its
defining sentence. The sample is a pure function of the node ids and the seed, so a judged
sheet (node id, verdict, why) stays attached to the same nodes when the workspace is rebuilt.
"""

from __future__ import annotations

import hashlib

from proda_ray.workspace.runner import table_producers
from proda_ray.workspace.storage import Workspace

LEVELS = {"chains": ("chains", "chain_id"), "statements": ("statements", "statement_id"),
          "concepts": ("concept_mentions", None),
          # concepts defined in running text (not read off an author's glossary line)
          "definitions": ("concept_mentions", None)}


def _read(ws: Workspace, table: str, columns=None) -> list[dict]:
    producers = table_producers(ws)
    if table not in producers:
        raise KeyError(f"no {table!r} table in {ws.uri}: run extract and merge first")
    return ws.read_parquet(producers[table].outputs[table].path, columns=columns).to_pylist()


def _mention_id(m: dict) -> str:
    h = hashlib.sha1(f"{m['chunk_id']}\x00{m['term']}".encode()).hexdigest()[:16]
    return f"mention-{h}"


def _order(node_id: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{node_id}".encode()).hexdigest()


def sample_nodes(ws: Workspace, level: str, n: int = 20, seed: int = 0) -> list[dict]:
    """``n`` nodes of ``level``, seeded, each with ``node_id``, ``row`` and ``render``."""
    table, key = LEVELS[level]
    rows = _read(ws, table)
    if level == "definitions":
        rows = [r for r in rows if r.get("origin") != "glossary"]
    for r in rows:
        r["_id"] = r[key] if key else _mention_id(r)
    rows.sort(key=lambda r: _order(r["_id"], seed))
    picked = rows[:n]
    wanted = {r["chunk_id"] for r in picked}
    chunks = {c["chunk_id"]: c for c in _read(ws, "chunks", ["chunk_id", "doc_id", "text"])
              if c["chunk_id"] in wanted}
    return [{"node_id": r["_id"], "row": {k: v for k, v in r.items() if k != "_id"},
             "render": render(level, r, chunks.get(r["chunk_id"], {}).get("text", ""))}
            for r in picked]


def _context(text: str, a: int, b: int, width: int = 220) -> str:
    return (f"...{text[max(0, a - width):a]}>>>{text[a:b]}<<<{text[b:b + width]}..."
            .replace("\n", " "))


def render(level: str, r: dict, text: str) -> str:
    if level == "chains":
        lines = [f"  process: {r['process_name']}  ({r.get('origin')})"]
        lines += [f"  {i + 1}. {s}" for i, s in enumerate(r["steps"])]
        if r.get("preconditions"):
            lines.append(f"  preconditions: {r['preconditions']}")
        if r.get("negative_constraints"):
            lines.append(f"  negative constraints: {r['negative_constraints']}")
        a = text.find(r["steps"][0])
        b = text.find(r["steps"][-1])
        if a >= 0 and b >= 0:
            lines.append("  source: " + _context(text, a, b + len(r["steps"][-1]), 300))
        return "\n".join(lines)
    if level == "statements":
        return (f"  [{r['subject']}] [{r['predicate']}] [{r['object']}]\n  source: "
                + _context(text, r["quote_char_start"], r["quote_char_end"]))
    a = text.find(r.get("source_quote") or "\x00")
    src = _context(text, a, a + len(r["source_quote"])) if a >= 0 else r.get("source_quote")
    return (f"  term: {r['term']}  ({r.get('type')}, {r.get('origin')})\n"
            f"  definition: {r['definition']}\n  source: {src}")


def audit(ws: Workspace, level: str, n: int, seed: int) -> str:
    out = []
    for i, s in enumerate(sample_nodes(ws, level, n, seed)):
        out.append(f"#{i + 1} {s['node_id']}\n{s['render']}")
    return "\n\n".join(out)
