"""Text views of the Knowledge Core for the CLI (``proda kc show``)."""

from __future__ import annotations

import polars as pl
from rich.markup import escape

from proda_ray.ids import id_prefix
from proda_ray.workspace.runner import table_producers
from proda_ray.workspace.storage import Workspace

_TABLE = {"chain": ("chains", "chain_id"), "stmt": ("statements", "statement_id"),
          "concept": ("concepts", "concept_id"), "chunk": ("chunks", "chunk_id"),
          "doc": ("documents", "doc_id")}


def _table(ws: Workspace, name: str) -> pl.DataFrame:
    producers = table_producers(ws)
    if name not in producers:
        raise KeyError(f"no {name!r} table in {ws.uri}: run the stage that builds it first")
    return pl.from_arrow(ws.read_parquet(producers[name].outputs[name].path))


def show_node(ws: Workspace, node_id: str) -> str:
    try:
        table, key = _TABLE[id_prefix(node_id)]
    except (ValueError, KeyError):
        raise KeyError(f"{node_id!r} is not a chain-, stmt-, concept-, chunk- or doc- id") from None
    rows = _table(ws, table).filter(pl.col(key) == node_id)
    if rows.is_empty():
        raise KeyError(f"{node_id} not found in {table}")
    row = rows.row(0, named=True)
    lines = [f"[bold]{node_id}[/bold] ({table})"]
    for k, v in row.items():
        if k != key and k != "text" and v not in (None, [], ""):
            lines.append(f"  {k}: {escape(str(v))}")
    links = _table(ws, "kc_index").filter(pl.col("src_id") == node_id).sort("relation", "dst_id")
    lines.append(f"links ({links.height}):")
    lines += [f"  -{r['relation']}-> {r['dst_id']}" for r in links.iter_rows(named=True)]
    chunk_id = row.get("chunk_id") or (node_id if table == "chunks" else None)
    if chunk_id:
        chunk = _table(ws, "chunks").filter(pl.col("chunk_id") == chunk_id)
        if not chunk.is_empty():
            text = chunk.row(0, named=True)["text"]
            if table == "statements":
                a, b = row["quote_char_start"], row["quote_char_end"]
                text = (f"{escape(text[max(0, a - 200):a])}[reverse]{escape(text[a:b])}"
                        f"[/reverse]{escape(text[b:b + 200])}")
            else:
                text = escape(text[:1500])
            lines.append(f"source ({chunk_id}):\n{text}")
    return "\n".join(lines)
