"""Workspace storage on any pyarrow or fsspec filesystem (local path, s3://, gs://, memory://).

A workspace is a directory (or object-store prefix) holding one project:

    proda.yaml                          the project config
    stages/<stage>/manifest.json        the committed state of a stage (written last)
    stages/<stage>/runs/<fingerprint>/  a run: its scratch shards and its own manifest
    tables/<table>/<fingerprint>/       immutable Parquet versions of each table
    cache/                              LLM response cache, converted models, …

Objects are serializable by URI only, so the same ``Workspace`` can be shipped to Ray workers
on other nodes; each process re-opens the filesystem lazily.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

_PYARROW_SCHEMES = {"file", "s3", "gs", "gcs", "hdfs", "abfs", "abfss"}


def open_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a local path or URI.

    Schemes pyarrow implements natively (local, S3, GCS, HDFS, Azure) use pyarrow; anything
    else fsspec knows (memory://, ftp://, …) is wrapped with ``FSSpecHandler``.
    """
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if not scheme:
        return pafs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
    if scheme in _PYARROW_SCHEMES:
        return pafs.FileSystem.from_uri(uri)
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


class Workspace:
    """A project's storage root. Paths given to methods are relative to the root."""

    def __init__(self, uri: str | Path):
        uri = str(uri)
        self.uri = uri if "://" in uri else str(Path(uri).expanduser().resolve())

    def __repr__(self) -> str:
        return f"Workspace({self.uri!r})"

    def __reduce__(self):  # ship by URI; the filesystem object is re-opened in each process
        return (Workspace, (self.uri,))

    @cached_property
    def _fs_root(self) -> tuple[pafs.FileSystem, str]:
        return open_filesystem(self.uri)

    @property
    def fs(self) -> pafs.FileSystem:
        return self._fs_root[0]

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The path of ``parts`` inside the filesystem (no scheme)."""
        return posixpath.join(self._fs_root[1], *parts) if parts else self._fs_root[1]

    def uri_of(self, *parts: str) -> str:
        """A full URI (with scheme) for ``parts``: what Ray Data readers and writers take."""
        return posixpath.join(self.uri, *parts) if parts else self.uri

    # --- basic file operations ------------------------------------------------------------

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def makedirs(self, *parts: str) -> None:
        self.fs.create_dir(self.path(*parts), recursive=True)

    def delete(self, *parts: str) -> None:
        info = self.fs.get_file_info(self.path(*parts))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(info.path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(info.path)

    def list_files(self, *parts: str, suffix: str = "") -> list[str]:
        """Relative paths (sorted) of files under ``parts`` ending in ``suffix``."""
        base = self.path(*parts)
        if self.fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True))
        root = self.path()
        return sorted(
            posixpath.relpath(i.path, root)
            for i in infos
            if i.type == pafs.FileType.File and i.path.endswith(suffix)
            and not posixpath.basename(i.path).startswith(".")
        )

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write atomically: readers see the old file or the whole new one, never a torn one.

        Object stores make a single PUT atomic already; on a POSIX filesystem we write a hidden
        temporary file beside the target and rename it into place.
        """
        target = self.path(rel)
        self.fs.create_dir(posixpath.dirname(target), recursive=True)
        if self.is_local:
            tmp = posixpath.join(posixpath.dirname(target), f".tmp-{uuid.uuid4().hex}")
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, target)
        else:
            with self.fs.open_output_stream(target) as out:
                out.write(data)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as f:
            return f.read()

    def write_json(self, rel: str, obj: Any) -> None:
        self.write_bytes(rel, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    # --- Parquet ----------------------------------------------------------------------------

    def write_parquet(self, rel: str, table: pa.Table) -> None:
        """Write one Parquet file atomically (zstd; row groups sized for streaming reads)."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", row_group_size=2048)
        self.write_bytes(rel, sink.getvalue().to_pybytes())

    @contextmanager
    def parquet_writers(self, targets: dict[str, tuple[str, pa.Schema]]
                        ) -> Iterator[Callable[[dict[str, pa.Table]], None]]:
        """Write several Parquet files incrementally; commit all on success, none on error.

        ``targets`` maps a name to (relative path, schema). The context yields
        ``write({name: table, …})``. Each file is written as it grows (bounded memory) to a
        hidden temporary file and renamed into place on success (object stores: written in
        place, made visible by the final upload). A file that got no rows is still written,
        empty, so readers find every target.
        """
        writers: dict[str, tuple[pq.ParquetWriter, object, str, str]] = {}

        def open_one(name: str):
            rel, schema = targets[name]
            final = self.path(rel)
            self.fs.create_dir(posixpath.dirname(final), recursive=True)
            tmp = (posixpath.join(posixpath.dirname(final), f".tmp-{uuid.uuid4().hex}")
                   if self.is_local else final)
            stream = self.fs.open_output_stream(tmp)
            writers[name] = (pq.ParquetWriter(stream, schema, compression="zstd"), stream, tmp,
                             final)
            return writers[name][0]

        def write(batch: dict[str, pa.Table]) -> None:
            for name, table in batch.items():
                if table.num_rows:
                    w = writers[name][0] if name in writers else open_one(name)
                    w.write_table(table.cast(targets[name][1]), row_group_size=2048)

        ok = False
        try:
            yield write
            ok = True
        finally:
            for name in targets:
                if name not in writers and ok:
                    open_one(name)
            for _name, (w, stream, tmp, final) in writers.items():
                w.close()
                stream.close()
                if not ok:  # local: the temp file; object stores: the partial object in place
                    self.fs.delete_file(tmp)
                elif tmp != final:
                    self.fs.move(tmp, final)

    def read_parquet(self, rel: str, columns: list[str] | None = None) -> pa.Table:
        """Read a Parquet file or a directory of part files into one table."""
        files = [rel] if rel.endswith(".parquet") else self.list_files(rel, suffix=".parquet")
        tables = [pq.read_table(self.path(f), columns=columns, filesystem=self.fs) for f in files]
        if not tables:
            raise FileNotFoundError(f"no Parquet files under {self.uri_of(rel)}")
        return pa.concat_tables(tables, promote_options="default")

    def iter_parquet_batches(
        self, rel: str, columns: list[str] | None = None, batch_size: int = 4096
    ) -> Iterator[pa.RecordBatch]:
        """Stream a Parquet file or directory batch by batch, without loading it whole."""
        files = [rel] if rel.endswith(".parquet") else self.list_files(rel, suffix=".parquet")
        for f in files:
            pf = pq.ParquetFile(self.fs.open_input_file(self.path(f)))
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)

    def count_rows(self, rel: str) -> int:
        files = [rel] if rel.endswith(".parquet") else self.list_files(rel, suffix=".parquet")
        return sum(
            pq.ParquetFile(self.fs.open_input_file(self.path(f))).metadata.num_rows for f in files
        )


# --- whole directories between the local disk and any filesystem ---------------------------


def upload_dir(local_dir: str | Path, uri: str) -> None:
    """Copy a local directory to ``uri`` (a local path or an object-store prefix).

    A ``.complete`` marker is written last, so a reader (``localize``) never mistakes a
    half-copied model for a whole one."""
    fs, path = open_filesystem(uri)
    fs.create_dir(path, recursive=True)
    pafs.copy_files(str(Path(local_dir).resolve()), path,
                    source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    with fs.open_output_stream(posixpath.join(path, ".complete")) as out:
        out.write(b"ok\n")


def localize(uri: str | Path, cache_root: str | Path | None = None) -> str:
    """A local directory holding the directory at ``uri`` (a model, usually).

    Local paths are returned as they are. Remote directories are downloaded once per node into
    ``$PRODA_CACHE_DIR/remote/<hash>`` (default ``~/.cache/proda-ray``; or ``cache_root``)
    through a temporary directory renamed into place, so concurrent workers on one node and
    killed downloads are safe."""
    import hashlib
    import os
    import shutil

    uri = str(uri)
    fs, path = open_filesystem(uri)
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    default = Path(os.environ.get("PRODA_CACHE_DIR", Path.home() / ".cache" / "proda-ray"))
    root = Path(cache_root or default / "remote")
    target = root / hashlib.sha256(uri.encode()).hexdigest()[:24]
    if (target / ".complete").exists():
        return str(target)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise FileNotFoundError(f"no directory at {uri}")
    tmp = root / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)  # copy_files makes subdirectories, not the top one
    pafs.copy_files(path, str(tmp), source_filesystem=fs,
                    destination_filesystem=pafs.LocalFileSystem())
    (tmp / ".complete").write_text("ok\n")
    try:
        os.rename(tmp, target)
    except OSError:  # another worker finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
