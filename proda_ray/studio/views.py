"""What each Studio screen shows, computed from the committed manifests and tables.

Read-only: nothing here writes to the workspace. Every function takes the ``Tables`` of one
workspace and returns plain JSON-able data; the server only routes to them.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

import polars as pl

from proda_ray.ids import id_prefix
from proda_ray.rounds import rname
from proda_ray.studio.tables import TableError, Tables
from proda_ray.workspace.manifest import StageManifest
from proda_ray.workspace.runner import committed_manifests, stage_status

# the pipeline's stages before any has run, with the edges between them (after a run the
# edges come from the manifests: input table -> the stage that produced it)
PIPELINE = ("spec", "extract", "merge", "bench", "build", "train", "eval", "eval.base", "debug")
PLANNED_EDGES = (("spec", "extract"), ("extract", "merge"), ("merge", "bench"),
                 ("merge", "build"), ("bench", "build"), ("build", "train"),
                 ("bench", "eval"), ("train", "eval"), ("bench", "eval.base"),
                 ("eval", "debug"), ("merge", "debug"))
_SECRET = re.compile(r"(api[_-]?key|secret|password|passwd|token|credential|auth)", re.I)
_NAME = re.compile(r"^(?P<kind>[a-z]+)(?:\.r(?P<round>\d+))?(?:\.(?P<tag>[a-z]+))?$")

# node id prefix -> (table, key column); sft/pred rows live in several round tables
NODE_TABLES = {"chain": ("chains", "chain_id"), "stmt": ("statements", "statement_id"),
               "concept": ("concepts", "concept_id"), "chunk": ("chunks", "chunk_id"),
               "doc": ("documents", "doc_id"), "item": ("bench_items", "item_id"),
               "patch": ("patches", "patch_id"), "diag": ("diagnoses", "diagnosis_id")}
MAX_NEIGHBOURS = 200


def redact(obj: Any) -> Any:
    """A config with every secret-looking key's value replaced (keys naming an environment
    variable, ``*_env``, are kept: they hold a name, not a secret)."""
    if isinstance(obj, dict):
        return {k: ("[redacted]" if _SECRET.search(str(k)) and not str(k).endswith("_env")
                    and v not in (None, "", False) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def kind_of(name: str) -> str:
    return parse_stage_name(name)["kind"]


def parse_stage_name(name: str) -> dict:
    """``eval.r2.blind`` -> kind eval, round 2, arm blind; ``eval.base`` -> label base."""
    m = _NAME.match(name)
    if not m:
        return {"kind": name, "round": 1, "arm": None, "label": None}
    tag = m["tag"]
    return {"kind": m["kind"], "round": int(m["round"] or 1),
            "arm": tag if tag == "blind" else None,
            "label": tag if tag and tag != "blind" else None}


# --- overview --------------------------------------------------------------------------------


def overview(t: Tables, jobs: list[dict]) -> dict:
    manifests = committed_manifests(t.ws)
    status = stage_status(t.ws, manifests)
    producers = {tb: m.stage for m in manifests.values() for tb in m.outputs}
    running = {j["stage"]: j for j in jobs if j["state"] == "running"}
    last_job = {}
    for j in sorted(jobs, key=lambda j: j.get("started_at") or ""):
        last_job[j["stage"]] = j
    names = list(dict.fromkeys([*PIPELINE, *sorted(manifests), *sorted(
        n for n in _stage_dirs(t) if _NAME.match(n))]))
    # a running `proda run` job: its stage is the one whose uncommitted run is busiest now
    loop_stage = _busiest_uncommitted(t, names) if "run" in running else None
    stages, edges = [], set()
    for name in names:
        m, s = manifests.get(name), status.get(name)
        state = s["state"] if s else "not_run"
        j = last_job.get(name)
        if j and j["state"] == "failed" and (not m or m.finished_at < (j.get("started_at") or "")):
            state = "failed"
        if name in running or name == loop_stage or (
                kind_of(name) == "train" and _live_run(t, name, name in running) is not None):
            state = "running"
        inputs = sorted({producers[k.removeprefix("table:")] for k in (m.inputs if m else {})
                         if k.startswith("table:") and k.removeprefix("table:") in producers})
        edges.update((i, name) for i in inputs)
        stages.append({
            "name": name, **parse_stage_name(name), "state": state,
            "fingerprint": m.fingerprint if m else None,
            "started_at": m.started_at if m else None,
            "finished_at": m.finished_at if m else None,
            "seconds": round(sum(m.timings_s.values()), 2) if m else None,
            "counters": m.counters if m else {},
            "rejected": m.rejected if m else {},
            "rejected_total": m.rejected_total() if m else 0,
            "usage": m.usage.model_dump() if m else None,
            "inputs": inputs,
            "stale_inputs": s["stale_inputs"] if s else [],
            "tables": {tb: info.rows for tb, info in m.outputs.items()} if m else {},
            "job": j,
        })
    known = {s["name"] for s in stages}
    edges.update(e for e in PLANNED_EDGES if e[1] not in manifests and set(e) <= known)
    # stale travels downstream: a stage built on a stale one is stale too
    by_name = {s["name"]: s for s in stages}
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            if (by_name[a]["state"] == "stale" and by_name[b]["state"] == "fresh"
                    and b in manifests):
                by_name[b]["state"] = "stale"
                by_name[b]["stale_inputs"] = [*by_name[b]["stale_inputs"], f"stage:{a}"]
                changed = True
    return {"workspace": t.ws.uri, "stages": stages, "edges": sorted(edges),
            "rounds": rounds(manifests), "jobs": jobs}


def _busiest_uncommitted(t: Tables, names: list[str]) -> str | None:
    """The stage with the most recently written run directory that has no manifest yet
    (its own entries and their direct children, as a run writes into both), if recent."""
    import time

    import pyarrow.fs as pafs

    fs, best, best_mtime = t.ws.fs, None, time.time() - LIVE_S
    for name in names:
        base = t.ws.path("stages", name, "runs")
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        for run in fs.get_file_info(pafs.FileSelector(base)):
            if run.type != pafs.FileType.Directory or fs.get_file_info(
                    posixpath.join(run.path, "manifest.json")).type == pafs.FileType.File:
                continue
            infos = [run, *fs.get_file_info(pafs.FileSelector(run.path))]
            newest = max((i.mtime.timestamp() for i in infos if i.mtime), default=0.0)
            if newest > best_mtime:
                best, best_mtime = name, newest
    return best


def rounds(manifests: dict[str, StageManifest]) -> list[dict]:
    out = []
    for name, m in sorted(manifests.items()):
        p = parse_stage_name(name)
        if p["kind"] != "eval":
            continue
        out.append({"stage": name, "round": p["round"], "arm": p["arm"], "label": p["label"],
                    "overall": {split: {k: o.get(k) for k in ("accuracy", "ci", "items")}
                                for split, o in m.report.get("overall", {}).items()}})
    return sorted(out, key=lambda r: (r["label"] is None, r["round"], r["arm"] or ""))


def stage_detail(t: Tables, name: str) -> dict:
    m = committed_manifests(t.ws).get(name)
    if m is None:
        raise TableError(f"no stage {name!r} has run in this workspace")
    d = m.model_dump(mode="json")
    d["config"] = redact(d["config"])
    return d


# --- knowledge -------------------------------------------------------------------------------


def search(t: Tables, q: str, limit: int = 20) -> dict:
    """Concepts (term, aliases, definition), statements (triple, quote) and chains (name,
    summary) whose text contains ``q``, case-insensitive; concepts first."""
    q = q.strip()
    if not q:
        return {"results": []}
    results: list[dict] = []
    for table, key in (("concepts", "concept_id"), ("chains", "chain_id"),
                       ("statements", "statement_id")):
        if t.get(table) is None or len(results) >= limit:
            continue
        for r in t.filtered(table, q).head(limit - len(results)).iter_rows(named=True):
            results.append({"id": r[key], "kind": id_prefix(r[key]), "label": label_of(r),
                            "snippet": _snippet(r, q)})
    return {"results": results}


def label_of(r: dict) -> str:
    if "term" in r:
        return r["term"]
    if "process_name" in r:
        return r["process_name"]
    if "subject" in r:
        return f"{r['subject']} {r['predicate']} {r['object']}"
    if "question" in r:
        return r["question"]
    if "chunk_index" in r:
        return f"{r.get('title') or r['doc_id']} · chunk {r['chunk_index']}"
    if "title" in r:
        return r["title"] or r.get("source_id", "")
    if "prompt" in r:
        return r["prompt"]
    return r.get("label") or ""


def _snippet(r: dict, q: str, width: int = 160) -> str:
    text = " · ".join(str(v) for k, v in r.items() if isinstance(v, str) and not
                      k.endswith("_id") and k not in ("origin", "grounding"))
    i = text.lower().find(q.lower())
    lo = max(0, i - width // 2) if i >= 0 else 0
    return ("…" if lo else "") + text[lo:lo + width] + ("…" if lo + width < len(text) else "")


def _row(t: Tables, table: str, key: str, value: str) -> dict | None:
    df = t.get(table)
    if df is None or key not in df.columns:
        return None
    hit = df.filter(pl.col(key) == value)
    return hit.row(0, named=True) if hit.height else None


def _tables_like(t: Tables, base: str) -> list[str]:
    """``base`` and its round versions (``sft_samples``, ``sft_samples.r2``, …), no rejects."""
    return sorted(n for n in t.refs() if (n == base or n.startswith(base + "."))
                  and not n.endswith(".rejected"))


def _containing(t: Tables, table: str, node_id: str, columns: tuple[str, ...]) -> pl.DataFrame:
    df = t.get(table)
    if df is None or df.is_empty():
        return pl.DataFrame()
    conds = []
    for c in columns:
        if c not in df.columns:
            continue
        if isinstance(df.schema[c], pl.List):
            conds.append(pl.col(c).list.contains(node_id).fill_null(False))
        else:
            conds.append((pl.col(c) == node_id).fill_null(False))
    return df.filter(pl.any_horizontal(conds)) if conds else pl.DataFrame()


def node(t: Tables, node_id: str) -> dict:
    """A node page: the row, its neighbourhood, its source chunk with the quotes at their
    stored offsets, and every item, sample, patch and accuracy row linked to it."""
    try:
        kind = id_prefix(node_id)
    except ValueError:
        raise TableError(f"{node_id!r} is not a proda id (chain-…, stmt-…, concept-…)") from None
    row, table = None, None
    if kind in NODE_TABLES:
        table, key = NODE_TABLES[kind]
        row = _row(t, table, key, node_id)
    elif kind in ("sft", "pred"):
        base, key = ("sft_samples", "sample_id") if kind == "sft" else ("predictions",
                                                                       "prediction_id")
        for table in _tables_like(t, base):
            if row := _row(t, table, key, node_id):
                break
    if row is None:
        raise TableError(f"no node {node_id} in this workspace")
    out: dict[str, Any] = {"id": node_id, "kind": kind, "table": table, "row": _jsonable(row)}
    out["neighbours"] = neighbours(t, node_id, kind, row)
    out["chunk"] = source_chunk(t, node_id, kind, row)
    ids = {node_id}
    out["items"] = _rows(_containing(t, "bench_items", node_id, (
        "chain_id", "statement_ids", "concept_ids", "chunk_id", "doc_id")),
        ("item_id", "split", "question_type", "discipline_code", "question", "answer"))
    out["samples"] = []
    for st in _tables_like(t, "sft_samples"):
        out["samples"] += [{"table": st, **r} for r in _rows(
            _containing(t, st, node_id, ("statement_ids", "concept_ids", "sample_id")),
            ("sample_id", "dataset", "task_type", "generator", "prompt", "response"))]
    out["patches"] = _rows(_containing(t, "patches", node_id, (
        "node_ids", "failed_item_ids", "sample_id", "patch_id")),
        ("patch_id", "sample_id", "round", "label", "node_ids", "failed_item_ids"))
    out["accuracy"] = []
    for at in _tables_like(t, "node_accuracy"):
        df = t.get(at)
        if df is not None and not df.is_empty():
            out["accuracy"] += [{"table": at, **r} for r in
                                df.filter(pl.col("node_id").is_in(list(ids))).to_dicts()]
    if kind == "item":
        out["predictions"] = []
        for pt in _tables_like(t, "predictions"):
            out["predictions"] += [{"table": pt, **r} for r in _rows(
                _containing(t, pt, node_id, ("item_id",)),
                ("prediction_id", "model", "predicted", "gold", "correct", "raw_output",
                 "parse_status"))]
    if kind == "patch":
        out["sample"] = next((s for s in out["samples"] if s["sample_id"] == row["sample_id"]),
                             None)
        if out["sample"] is None:
            for st in _tables_like(t, "sft_samples"):
                if s := _row(t, st, "sample_id", row["sample_id"]):
                    out["sample"] = {"table": st, **_jsonable(s)}
                    break
        out["nodes"] = [node_text(t, n) for n in row["node_ids"]]
    if kind == "diag":
        out["evidence"] = json.loads(row.get("evidence_json") or "{}")
    return out


def node_text(t: Tables, node_id: str) -> dict:
    """A node's text for a patch page: a concept's definition, a statement's triple and
    quote, a chain's summary."""
    try:
        kind = id_prefix(node_id)
    except ValueError:
        return {"id": node_id, "kind": "?", "text": "", "quote": ""}
    table, key = NODE_TABLES.get(kind, (None, None))
    r = _row(t, table, key, node_id) if table else None
    if r is None:
        return {"id": node_id, "kind": kind, "text": "", "quote": ""}
    text = (f"{r['term']}: {r.get('definition') or ''}" if kind == "concept"
            else r.get("narrative_summary") if kind == "chain" else label_of(r))
    return {"id": node_id, "kind": kind, "text": text or "", "quote": r.get("source_quote", "")}


def neighbours(t: Tables, node_id: str, kind: str, row: dict) -> list[dict]:
    out: list[dict] = []
    kc = t.get("kc_index")
    if kc is not None and not kc.is_empty():
        for r in kc.filter(pl.col("src_id") == node_id).head(MAX_NEIGHBOURS).iter_rows(
                named=True):
            out.append({"id": r["dst_id"], "kind": r["dst_kind"], "relation": r["relation"],
                        "direction": "out"})
        for r in kc.filter(pl.col("dst_id") == node_id).head(MAX_NEIGHBOURS).iter_rows(
                named=True):
            out.append({"id": r["src_id"], "kind": r["src_kind"], "relation": r["relation"],
                        "direction": "in"})
    # items, samples, patches and diagnoses point at nodes through their id columns
    links = {"chain_id": "tests_chain", "statement_ids": "uses_statement",
             "concept_ids": "uses_concept", "node_ids": "on_node",
             "failed_item_ids": "failed_item", "sample_id": "sample", "item_id": "item"}
    if kind in ("item", "sft", "patch", "diag", "pred"):
        for col, rel in links.items():
            v = row.get(col)
            for x in ([v] if isinstance(v, str) else v or []):
                if x and x != node_id:
                    out.append({"id": x, "kind": x.partition("-")[0], "relation": rel,
                                "direction": "out"})
    seen, unique = set(), []
    for n in out:
        if (n["id"], n["relation"], n["direction"]) not in seen:
            seen.add((n["id"], n["relation"], n["direction"]))
            unique.append(n)
    labels = _labels(t, [n["id"] for n in unique[:MAX_NEIGHBOURS]])
    for n in unique:
        n["label"] = labels.get(n["id"], n["id"])
    return unique[:MAX_NEIGHBOURS]


ID_COLUMNS = ("node_id", "chain_id", "statement_id", "concept_id", "item_id", "statement_ids",
              "concept_ids", "node_ids", "failed_item_ids", "duplicate_of", "chunk_id")


def page_labels(t: Tables, rows: list[dict]) -> dict[str, str]:
    """A readable label (term, triple, process name, question) for every node id a page of
    rows shows, so that a table of ids reads as knowledge."""
    ids = set()
    for r in rows:
        for col in ID_COLUMNS:
            v = r.get(col)
            for x in ([v] if isinstance(v, str) else v if isinstance(v, list) else []):
                if isinstance(x, str) and "-" in x:
                    ids.add(x)
    return _labels(t, sorted(ids)) if ids else {}


def _labels(t: Tables, ids: list[str]) -> dict[str, str]:
    by_kind: dict[str, list[str]] = {}
    for i in ids:
        by_kind.setdefault(i.partition("-")[0], []).append(i)
    out = {}
    for kind, group in by_kind.items():
        if kind not in NODE_TABLES:
            continue
        table, key = NODE_TABLES[kind]
        df = t.get(table)
        if df is None or key not in df.columns:
            continue
        for r in df.filter(pl.col(key).is_in(group)).iter_rows(named=True):
            out[r[key]] = label_of(r)[:120]
    return out


def source_chunk(t: Tables, node_id: str, kind: str, row: dict) -> dict | None:
    """The chunk a node was read from, with the highlighted quotes (character offsets into
    the chunk text, as stored by the grounding step)."""
    stmts = t.get("statements")
    chunk_id = row.get("chunk_id") if kind != "chunk" else node_id
    if kind == "concept" and stmts is not None and row.get("statement_ids"):
        first = stmts.filter(pl.col("statement_id").is_in(row["statement_ids"])).head(1)
        chunk_id = first.row(0, named=True)["chunk_id"] if first.height else None
    if not chunk_id:
        return None
    chunk = _row(t, "chunks", "chunk_id", chunk_id)
    if chunk is None:
        return None
    highlights = []
    if stmts is not None and not stmts.is_empty():
        sel = stmts.filter(pl.col("chunk_id") == chunk_id)
        if kind == "stmt":
            sel = sel.filter(pl.col("statement_id") == node_id)
        elif kind == "chain":
            sel = sel.filter(pl.col("chain_id") == node_id)
        elif kind == "concept" or kind in ("item", "sft"):
            sel = sel.filter(pl.col("statement_id").is_in(row.get("statement_ids") or []))
        text = chunk["text"]
        highlights = [{"start": _utf16(text, r["quote_char_start"]),
                       "end": _utf16(text, r["quote_char_end"]), "id": r["statement_id"]}
                      for r in sel.iter_rows(named=True)
                      if 0 <= r["quote_char_start"] < r["quote_char_end"] <= len(text)]
    return {"chunk_id": chunk_id, "doc_id": chunk["doc_id"], "title": chunk.get("title"),
            "section_path": chunk.get("section_path"), "text": chunk["text"],
            "highlights": sorted(highlights, key=lambda h: (h["start"], h["end"]))}


def _utf16(text: str, i: int) -> int:
    """Code-point offset ``i`` of ``text`` as a UTF-16 offset: what a JavaScript string
    indexes (they differ after any character outside the Basic Multilingual Plane)."""
    head = text[:i]
    return len(head) + sum(1 for c in head if ord(c) > 0xFFFF)


def _rows(df: pl.DataFrame, columns: tuple[str, ...], limit: int = 200) -> list[dict]:
    if df.is_empty():
        return []
    return df.select([c for c in columns if c in df.columns]).head(limit).to_dicts()


def _jsonable(row: dict) -> dict:
    return {k: v for k, v in row.items()}


# --- benchmark and training data --------------------------------------------------------------


def benchmark(t: Tables) -> dict:
    m = committed_manifests(t.ws).get("bench")
    if m is None:
        return {"built": False}
    rep = m.report
    return {"built": True, "items": m.counters.get("items", 0), "splits": rep.get("splits"),
            "by_type": rep.get("by_type"), "by_discipline": rep.get("by_discipline"),
            "by_level": rep.get("by_level"), "validity": rep.get("validity"),
            "answer_patterns": rep.get("answer_patterns"), "rejected": m.rejected,
            "counters": m.counters}


def sft(t: Tables) -> dict:
    manifests = committed_manifests(t.ws)
    versions = []
    for table in _tables_like(t, "sft_samples"):
        ref = t.ref(table)
        df = t.frame(table)
        m = manifests[ref.stage]
        rep = m.report
        rejected = f"{table}.rejected"
        versions.append({
            "table": table, "stage": ref.stage, "rows": df.height,
            "datasets": sorted(df.get_column("dataset").unique().to_list()) if df.height else [],
            "by_type": _counts(df, "task_type"), "by_generator": _counts(df, "generator"),
            "coverage": rep.get("coverage"),
            "decontamination": rep.get("decontamination") or {
                "dropped": rep.get("decontamination_dropped")},
            "rejected_table": rejected if rejected in t.refs() else None,
            "rejected": m.rejected.get(rejected, {}),
        })
    return {"versions": versions}


def _counts(df: pl.DataFrame, col: str) -> dict[str, int]:
    if df.is_empty() or col not in df.columns:
        return {}
    return {str(r[col]): int(r["len"]) for r in df.group_by(col).len().sort(col).to_dicts()}


def sft_diff(t: Tables, a: str, b: str) -> dict:
    for name in (a, b):
        if not name.startswith("sft_samples") or name.endswith(".rejected"):
            raise TableError(f"{name!r} is not an SFT samples table")
    da, db = t.frame(a), t.frame(b)
    ia, ib = set(da.get_column("sample_id")), set(db.get_column("sample_id"))
    added = db.filter(pl.col("sample_id").is_in(list(ib - ia)))
    dropped = da.filter(pl.col("sample_id").is_in(list(ia - ib)))
    return {"a": a, "b": b, "added": len(ib - ia), "dropped": len(ia - ib),
            "kept": len(ia & ib), "added_by_type": _counts(added, "task_type"),
            "dropped_by_type": _counts(dropped, "task_type"),
            "added_by_generator": _counts(added, "generator"),
            "added_rows": _rows(added, ("sample_id", "task_type", "generator", "prompt"), 100),
            "dropped_rows": _rows(dropped, ("sample_id", "task_type", "generator", "prompt"),
                                  100)}


# --- training --------------------------------------------------------------------------------


LIVE_S = 120.0  # a run whose last step file is this recent (and uncommitted) is training
MAX_LIVE_STEPS = 5000  # the newest step files read for a live curve


def training(t: Tables, jobs: list[dict]) -> dict:
    """Every train stage's curves: committed runs from their metrics table; a run that is
    training — started by the Studio or from a terminal — from the per-step files its rank 0
    writes to the run's scratch, read again on every request."""
    manifests = committed_manifests(t.ws)
    status = stage_status(t.ws, manifests)
    running = {j["stage"] for j in jobs if j["state"] == "running"}
    names = sorted({n for n in manifests if parse_stage_name(n)["kind"] == "train"}
                   | {n for n in _stage_dirs(t) if parse_stage_name(n)["kind"] == "train"})
    runs = []
    for name in names:
        m = manifests.get(name)
        metrics: list[dict] = []
        state = status[name]["state"] if name in status else "not_run"
        live = _live_run(t, name, job_running=name in running)
        if live is not None:
            metrics, state = live, "running"
        elif m:
            table = next((tb for tb in m.outputs if tb.startswith("train_metrics")), None)
            df = t.get(table) if table else None
            metrics = df.sort("step").to_dicts() if df is not None and df.height else []
        runs.append({"stage": name, **parse_stage_name(name), "state": state,
                     "config": redact(m.config) if m else None,
                     "report": redact(m.report) if m else None, "metrics": metrics})
    return {"runs": runs}


def _stage_dirs(t: Tables) -> list[str]:
    import pyarrow.fs as pafs

    base = t.ws.path("stages")
    if t.ws.fs.get_file_info(base).type != pafs.FileType.Directory:
        return []
    return [posixpath.basename(i.path) for i in t.ws.fs.get_file_info(pafs.FileSelector(base))
            if i.type == pafs.FileType.Directory]


def _live_run(t: Tables, stage: str, job_running: bool) -> list[dict] | None:
    """The step metrics of the run of ``stage`` that is training now, or None: the run whose
    step files are the newest, if its last step file is recent and it has not committed (or a
    job is rebuilding it: a forced run writes into the committed run's directory)."""
    import time

    import pyarrow.fs as pafs

    fs, base = t.ws.fs, t.ws.path("stages", stage, "runs")
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return None
    best, best_mtime, best_files = None, -1.0, []
    for run in fs.get_file_info(pafs.FileSelector(base)):
        mdir = posixpath.join(run.path, "metrics")
        if run.type != pafs.FileType.Directory or fs.get_file_info(mdir).type != \
                pafs.FileType.Directory:
            continue
        files = [i for i in fs.get_file_info(pafs.FileSelector(mdir))
                 if i.type == pafs.FileType.File and i.path.endswith(".json")]
        newest = max((i.mtime.timestamp() for i in files if i.mtime), default=-1.0)
        if files and newest > best_mtime:
            best, best_mtime, best_files = run.path, newest, files
    if best is None:
        return None
    committed = fs.get_file_info(posixpath.join(best, "manifest.json")).type == \
        pafs.FileType.File
    recent = time.time() - best_mtime < LIVE_S
    if not recent or (committed and not job_running):
        return None
    rows = []
    for info in sorted(best_files, key=lambda i: i.path)[-MAX_LIVE_STEPS:]:
        try:
            with fs.open_input_stream(info.path) as f:
                rows.append(json.loads(f.read()))
        except (OSError, ValueError):  # a step file being written: the next poll reads it
            continue
    return sorted(rows, key=lambda r: r.get("step", 0))


# --- evaluation and diagnosis ----------------------------------------------------------------


def evaluation(t: Tables) -> dict:
    manifests = committed_manifests(t.ws)
    runs = []
    for name, m in manifests.items():
        p = parse_stage_name(name)
        if p["kind"] != "eval":
            continue
        rep = m.report
        runs.append({"stage": name, **p, "model": rep.get("model"),
                     "overall": rep.get("overall", {}), "by_discipline":
                     rep.get("by_discipline", {}), "by_question_type":
                     rep.get("by_question_type", {}), "vs_previous": rep.get("vs_previous"),
                     "tables": {tb: info.rows for tb, info in m.outputs.items()},
                     "finished_at": m.finished_at})
    runs.sort(key=lambda r: (r["label"] is None, r["round"], r["arm"] or ""))
    return {"runs": runs}


def _predictions(t: Tables, stage: str) -> pl.DataFrame:
    m = committed_manifests(t.ws).get(stage)
    if m is None or parse_stage_name(stage)["kind"] != "eval":
        raise TableError(f"{stage!r} is not a committed eval stage")
    table = next((tb for tb in m.outputs if tb.startswith("predictions")), None)
    if table is None:
        raise TableError(f"{stage!r} wrote no predictions table")
    return t.frame(table)


def evaluation_diff(t: Tables, a: str, b: str, split: str | None = None) -> dict:
    """Item by item, eval ``a`` against eval ``b``: fixed (wrong in a, right in b), broken,
    still failing, still passing (items both answered)."""
    cols = ["item_id", "split", "question_type", "discipline_code", "gold", "predicted",
            "correct", "raw_output"]
    pa_ = _predictions(t, a).select(cols)
    pb_ = _predictions(t, b).select(["item_id", "predicted", "correct", "raw_output"])
    if split:
        pa_ = pa_.filter(pl.col("split") == split)
    j = pa_.join(pb_, on="item_id", suffix="_b").rename(
        {"predicted": "a_predicted", "correct": "a_correct", "raw_output": "a_raw",
         "predicted_b": "b_predicted", "correct_b": "b_correct", "raw_output_b": "b_raw"})
    j = j.with_columns(
        pl.when(~pl.col("a_correct") & pl.col("b_correct")).then(pl.lit("fixed"))
        .when(pl.col("a_correct") & ~pl.col("b_correct")).then(pl.lit("broken"))
        .when(~pl.col("a_correct")).then(pl.lit("still_failing"))
        .otherwise(pl.lit("still_passing")).alias("change")).sort("change", "item_id")
    counts = {k: 0 for k in ("fixed", "broken", "still_failing", "still_passing")}
    counts.update({r["change"]: int(r["len"]) for r in j.group_by("change").len().to_dicts()})
    return {"a": a, "b": b, "split": split, "counts": counts, "items": j.to_dicts()}


def diagnosis(t: Tables) -> dict:
    manifests = committed_manifests(t.ws)
    runs = []
    for name, m in sorted(manifests.items()):
        p = parse_stage_name(name)
        if p["kind"] != "debug":
            continue
        rep = m.report
        weakest = rep.get("weakest_nodes") or []
        ids = [w["node_id"] for w in weakest]
        before = _node_acc(t, manifests, rname("eval", p["round"]), ids)
        after = _node_acc(t, manifests, rname("eval", p["round"] + 1), ids)
        labels = _labels(t, ids)
        runs.append({"stage": name, "round": p["round"], "report": redact(rep),
                     "labels": rep.get("labels", {}), "failed": rep.get("failed"),
                     "weakest": [{**w, "label": labels.get(w["node_id"], ""),
                                  "before": before.get(w["node_id"]),
                                  "after": after.get(w["node_id"])} for w in weakest],
                     "tables": {tb: info.rows for tb, info in m.outputs.items()}})
    return {"runs": runs}


def _node_acc(t: Tables, manifests: dict, stage: str, ids: list[str]) -> dict[str, dict]:
    m = manifests.get(stage)
    if m is None or not ids:
        return {}
    table = next((tb for tb in m.outputs if tb.startswith("node_accuracy")), None)
    df = t.get(table) if table else None
    if df is None or df.is_empty():
        return {}
    out: dict[str, dict] = {}
    for r in df.filter(pl.col("node_id").is_in(ids)).iter_rows(named=True):
        out.setdefault(r["node_id"], {})[r["split"]] = {
            "items": r["items"], "correct": r["correct"], "accuracy": r["accuracy"]}
    return out
