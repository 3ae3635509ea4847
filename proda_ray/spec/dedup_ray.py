"""Dedup as Ray Data operations: the groups of ``dedup.find_duplicates``, computed across nodes.

The single-task path holds every row's signature in one process. This one never does: every
step is a Ray Data operation whose blocks spread over the cluster, and the driver holds only
the edges it joins (one per duplicate, plus the pairs that verified).

1. **rows**     each shard's staged file -> (id, content hash, signature, locator), in parallel
2. **ids**      ``groupby(id)``: a record id seen twice keeps its first row by locator, as
                the single-task path does; the others are ``duplicate_id`` drops
3. **buckets**  every row -> one key per LSH band (band number + the band's values) and one
                for its exact key; ``groupby(key)``; each bucket of two or more rows gives the
                candidate pairs the single-task path compares: all of them in a small bucket,
                a window of id-order neighbours in a big one, and for an exact key every
                member with the first
4. **verify**   distinct band pairs joined twice with the signatures (``Dataset.join``) and
                kept where the estimated Jaccard reaches the threshold, in parallel
5. **merge**    union-find over the edges in the driver: the smallest id of a group is kept
6. **report**   each dropped row joined with its kept row for the exact / near reason and
                the similarity, computed as the single-task path computes them

Skipping a pair whose rows are already joined (as the single-task path does) cannot change a
group, so both paths give the same groups, kept ids, reasons and similarities;
``tests/spec/test_dedup_ray.py`` proves it on planted input and on real chunks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from proda_ray.spec.dedup import Duplicate, bucket_pairs
from proda_ray.workspace.storage import Workspace

_ROWS = pa.schema([("id", pa.string()), ("content_hash", pa.string()),
                   ("minhash", pa.binary()), ("locator", pa.string())])
_KEYS = pa.schema([("key", pa.string()), ("id", pa.string())])
_PAIRS = pa.schema([("a", pa.string()), ("b", pa.string()), ("verify", pa.bool_())])
_EXACT = "x:"  # the prefix of an exact-key bucket; band buckets start with their number


def _read(batch: pa.Table, ws: Workspace, id_col: str) -> pa.Table:
    parts = []
    for path, shard in zip(batch["path"].to_pylist(), batch["shard"].to_pylist(),
                           strict=True):
        t = ws.read_parquet(path, columns=[id_col, "content_hash", "minhash"])
        loc = pa.array([f"{shard}:{i:09d}" for i in range(t.num_rows)], type=pa.string())
        parts.append(pa.Table.from_arrays(
            [t.column(id_col), t.column("content_hash"), t.column("minhash"), loc],
            schema=_ROWS))
    return pa.concat_tables(parts) if parts else _ROWS.empty_table()


def _later_locators(group: pa.Table) -> pa.Table:
    """All but the first row (by locator) of the rows that share one id."""
    if group.num_rows < 2:
        return group.select(["id", "locator"]).slice(0, 0)
    return group.sort_by("locator").select(["id", "locator"]).slice(1)


def _drop_locators(t: pa.Table, drop: frozenset) -> pa.Table:
    if not drop:
        return t
    return t.filter(pc.invert(pc.is_in(t["locator"], pa.array(sorted(drop), pa.string()))))


def _bucket_keys(t: pa.Table, num_bands: int, rows_per_band: int) -> pa.Table:
    n = t.num_rows
    ids = t["id"].to_pylist()
    keys = [_EXACT + k for k in t["content_hash"].to_pylist()]
    out_ids = list(ids)
    if n:
        sigs = np.frombuffer(b"".join(t["minhash"].to_pylist()), np.uint32).reshape(n, -1)
        need = num_bands * rows_per_band
        if sigs.shape[1] < need:
            raise ValueError(f"signatures have {sigs.shape[1]} values, bands need {need}")
        bands = np.ascontiguousarray(sigs[:, :need]).reshape(n, num_bands, rows_per_band)
        width = rows_per_band * 8  # hex digits of one row's band
        for band in range(num_bands):
            hexed = np.ascontiguousarray(bands[:, band, :]).tobytes().hex()
            keys += [f"{band}:{hexed[i * width:(i + 1) * width]}" for i in range(n)]
            out_ids += ids
    return pa.Table.from_arrays([pa.array(keys, pa.string()), pa.array(out_ids, pa.string())],
                                schema=_KEYS)


def _pairs(group: pa.Table, max_pairs: int) -> pa.Table:
    if group.num_rows < 2:
        return _PAIRS.empty_table()
    ids = sorted(group["id"].to_pylist())
    if group["key"][0].as_py().startswith(_EXACT):  # joined without verifying, like the
        a, b = [ids[0]] * (len(ids) - 1), ids[1:]  # single path's first-of-key unions
        verify = False
    else:
        found = bucket_pairs(len(ids), max_pairs)
        a, b = [ids[i] for i, _ in found], [ids[j] for _, j in found]
        verify = True
    return pa.Table.from_arrays([pa.array(a, pa.string()), pa.array(b, pa.string()),
                                 pa.array([verify] * len(a), pa.bool_())], schema=_PAIRS)


def _where_verify(t: pa.Table, verify: bool) -> pa.Table:
    mask = t["verify"] if verify else pc.invert(t["verify"])
    return t.filter(mask).select(["a", "b"])


def _sig_as(t: pa.Table, name: str) -> pa.Table:
    return t.select(["id", "minhash", "content_hash"]).rename_columns(
        [name, f"minhash_{name}", f"hash_{name}"])


def _agreement(t: pa.Table, left: str, right: str) -> np.ndarray:
    n = t.num_rows
    if not n:
        return np.zeros(0)
    x = np.frombuffer(b"".join(t[f"minhash_{left}"].to_pylist()), np.uint32).reshape(n, -1)
    y = np.frombuffer(b"".join(t[f"minhash_{right}"].to_pylist()), np.uint32).reshape(n, -1)
    return np.array([float(np.mean(x[i] == y[i])) for i in range(n)])  # as the single path


def _verified(t: pa.Table, threshold: float) -> pa.Table:
    keep = _agreement(t, "a", "b") >= threshold
    return t.select(["a", "b"]).filter(pa.array(keep, pa.bool_()))


def _reasons(t: pa.Table) -> pa.Table:
    sim = _agreement(t, "id", "root")
    exact = pc.equal(t["hash_id"], t["hash_root"]).to_numpy(zero_copy_only=False)
    return pa.table({
        "id": t["id"], "kept_id": t["root"],
        "reason": pa.array(np.where(exact, "exact_duplicate", "near_duplicate").tolist(),
                           pa.string()),
        "similarity": pa.array(np.where(exact, 1.0, sim), pa.float64()),
    })


def _components(edges: list[tuple[str, str]]) -> dict[str, str]:
    """id -> the smallest id of its group, for every id on an edge that is not that id."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: r for x in parent if (r := find(x)) != x}


def find_duplicates_ray(ws: Workspace, files: list[tuple[str, str]], id_col: str, *,
                        enabled: bool, num_bands: int, rows_per_band: int, threshold: float,
                        max_bucket_pairs: int = 200, partitions: int | None = None,
                        ) -> tuple[list[dict], list[Duplicate]]:
    """``(duplicate-id drops by locator, content duplicates)`` of the rows staged in
    ``files`` (``(path, shard)`` pairs), as ``shards.dedup_rows`` finds them in one task.
    ``partitions``: of each shuffle (the stage gives twice the cluster's workers)."""
    import ray.data

    if not files:
        return [], []
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    p = partitions or 4
    arrow = {"batch_format": "pyarrow"}

    rows = ray.data.from_items([{"path": f, "shard": s} for f, s in files],
                               override_num_blocks=len(files)).map_batches(
        _read, batch_size=1, fn_args=(ws, id_col), **arrow).materialize()
    later = rows.select_columns(["id", "locator"]).groupby("id", num_partitions=p) \
        .map_groups(_later_locators, **arrow).take_all()
    id_drops = sorted(({"id": r["id"], "kept_id": r["id"], "reason": "duplicate_id",
                        "similarity": 1.0, "locator": r["locator"]} for r in later),
                      key=lambda r: r["locator"])
    drop = frozenset(r["locator"] for r in id_drops)
    if not enabled:  # as the single path: content dedup off leaves only repeated ids
        return id_drops, []
    kept = rows.map_batches(_drop_locators, fn_args=(drop,), **arrow).materialize()

    keyed = kept.map_batches(_bucket_keys, fn_args=(num_bands, rows_per_band), **arrow)
    pairs = keyed.groupby("key", num_partitions=p).map_groups(
        _pairs, fn_args=(max_bucket_pairs,), **arrow).materialize()
    exact_edges = pairs.map_batches(_where_verify, fn_args=(False,), **arrow)
    candidates = (pairs.map_batches(_where_verify, fn_args=(True,), **arrow)
                  .groupby(["a", "b"], num_partitions=p).count().select_columns(["a", "b"]))
    verified = (candidates
                .join(kept.map_batches(_sig_as, fn_args=("a",), **arrow), "inner", p,
                      on=("a",))
                .join(kept.map_batches(_sig_as, fn_args=("b",), **arrow), "inner", p,
                      on=("b",))
                .map_batches(_verified, fn_args=(threshold,), **arrow))
    edges = [(r["a"], r["b"]) for r in exact_edges.take_all() + verified.take_all()]

    roots = _components(edges)
    if not roots:
        return id_drops, []
    members = ray.data.from_items([{"id": k, "root": v} for k, v in roots.items()])
    found = (members
             .join(kept.map_batches(_sig_as, fn_args=("id",), **arrow), "inner", p, on=("id",))
             .join(kept.map_batches(_sig_as, fn_args=("root",), **arrow), "inner", p,
                   on=("root",))
             .map_batches(_reasons, **arrow).take_all())
    dups = [Duplicate(r["id"], r["kept_id"], r["reason"], float(r["similarity"]))
            for r in found]
    return id_drops, sorted(dups, key=lambda d: d.id)
