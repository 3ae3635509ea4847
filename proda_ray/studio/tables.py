"""The workspace's committed tables as paged, filtered, sorted queries (polars).

A table version (``tables/<name>/<fingerprint>``) does not change between two commits of its
stage, so each one is read once and kept in a small LRU keyed by (path, commit time): a
rebuilt stage commits a new path, or (``--force``) the same path at a new time, and the next
request reads that. Only the asked page leaves the server.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import polars as pl

from proda_ray.workspace import Workspace
from proda_ray.workspace.runner import committed_manifests

MAX_LIMIT = 500
CACHE_VERSIONS = 24
REFRESH_S = 1.0  # how stale the list of committed versions may be


class TableError(ValueError):
    """A request the tables cannot answer (unknown table or column): a 4xx, one line."""


@dataclass(frozen=True)
class TableRef:
    name: str
    stage: str
    path: str
    rows: int
    committed_at: str  # a forced rebuild rewrites the same path: the commit tells them apart

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.committed_at


class Tables:
    """Committed tables of one workspace, resolved through the stage manifests."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._cache: OrderedDict[tuple[str, str], pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._refs: tuple[float, dict[str, TableRef]] = (float("-inf"), {})

    def refs(self) -> dict[str, TableRef]:
        """Table name -> its committed version. Stages commit while we serve, so the
        manifests are re-read when the last reading is older than ``REFRESH_S``."""
        with self._lock:
            at, refs = self._refs
            if time.monotonic() - at < REFRESH_S:
                return refs
        refs = {t: TableRef(t, m.stage, info.path, info.rows, m.finished_at)
                for m in committed_manifests(self.ws).values()
                for t, info in m.outputs.items()}
        with self._lock:
            self._refs = (time.monotonic(), refs)
        return refs

    def ref(self, name: str) -> TableRef:
        refs = self.refs()
        if name not in refs:
            raise TableError(f"no table {name!r} in this workspace (yet)")
        return refs[name]

    def frame(self, name: str) -> pl.DataFrame:
        ref = self.ref(name)
        with self._lock:
            if ref.key in self._cache:
                self._cache.move_to_end(ref.key)
                return self._cache[ref.key]
        if ref.rows == 0 and not self.ws.exists(ref.path):
            df = pl.DataFrame()
        else:
            df = pl.from_arrow(self.ws.read_parquet(ref.path))
        with self._lock:
            self._cache[ref.key] = df
            while len(self._cache) > CACHE_VERSIONS:
                self._cache.popitem(last=False)
        return df

    def schema(self, name: str) -> list[dict]:
        """A table's columns, read from one Parquet footer (not the data)."""
        import pyarrow.parquet as pq

        ref = self.ref(name)
        with self._lock:
            if ref.key in self._cache:
                return [{"name": c, "type": str(t)}
                        for c, t in self._cache[ref.key].schema.items()]
        files = self.ws.list_files(ref.path, suffix=".parquet")
        if not files:
            return []
        schema = pq.read_schema(self.ws.fs.open_input_file(self.ws.path(files[0])))
        return [{"name": c, "type": str(t)}
                for c, t in pl.from_arrow(schema.empty_table()).schema.items()]

    def get(self, name: str) -> pl.DataFrame | None:
        """The table, or None when it has not been built."""
        try:
            return self.frame(name)
        except TableError:
            return None

    # --- queries -----------------------------------------------------------------------------

    def filtered(self, name: str, q: str = "", where: list[str] | None = None) -> pl.DataFrame:
        df = self.frame(name)
        for w in where or []:
            col, sep, value = w.partition(":")
            if not sep:
                raise TableError(f"where must be column:value, got {w!r}")
            df = df.filter(_equals(df, col, value))
        if q.strip():
            df = df.filter(_search(df, q.strip()))
        return df

    def page(self, name: str, *, offset: int = 0, limit: int = 50, q: str = "",
             where: list[str] | None = None, sort: str | None = None, desc: bool = False,
             columns: list[str] | None = None) -> dict:
        df = self.filtered(name, q, where)
        if sort:
            _check_column(df, sort)
            df = df.sort(sort, descending=desc, nulls_last=True)
        if columns:
            for c in columns:
                _check_column(df, c)
            df = df.select(columns)
        limit = max(1, min(int(limit), MAX_LIMIT))
        offset = max(0, int(offset))
        ref = self.ref(name)
        return {"name": name, "stage": ref.stage, "total": df.height, "offset": offset,
                "limit": limit, "columns": [{"name": c, "type": str(t)}
                                            for c, t in df.schema.items()],
                "rows": df.slice(offset, limit).to_dicts()}

    def facet(self, name: str, column: str, *, q: str = "", where: list[str] | None = None,
              top: int = 50) -> dict:
        df = self.filtered(name, q, where)
        _check_column(df, column)
        s = df.get_column(column)
        if isinstance(s.dtype, pl.List):
            s = s.explode()
        counts = (s.cast(pl.Utf8).value_counts(sort=True, name="count").head(top)
                  .rename({column: "value"}))
        return {"column": column, "values": counts.to_dicts()}


def _check_column(df: pl.DataFrame, col: str) -> None:
    if col not in df.columns:
        raise TableError(f"no column {col!r}; columns: {', '.join(df.columns)}")


def _equals(df: pl.DataFrame, col: str, value: str) -> pl.Expr:
    """``col`` equals ``value`` (as text); for a list column: contains it."""
    _check_column(df, col)
    dtype = df.schema[col]
    if isinstance(dtype, pl.List):
        return pl.col(col).list.eval(pl.element().cast(pl.Utf8) == value).list.any()
    return pl.col(col).cast(pl.Utf8) == value


def _search(df: pl.DataFrame, q: str) -> pl.Expr:
    """Case-insensitive literal substring in any text column (or text list column)."""
    needle = q.lower()
    exprs = []
    for col, dtype in df.schema.items():
        if dtype == pl.Utf8:
            exprs.append(pl.col(col).str.to_lowercase().str.contains(needle, literal=True))
        elif isinstance(dtype, pl.List) and dtype.inner == pl.Utf8:
            exprs.append(pl.col(col).list.join(" ").str.to_lowercase()
                         .str.contains(needle, literal=True))
    if not exprs:
        return pl.lit(False)
    return pl.any_horizontal(exprs).fill_null(False)
