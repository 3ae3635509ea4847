"""Readers: corpus files -> ``RawDoc`` or ``Rejection``, streaming, never raising.

Formats by extension: ``.jsonl``/``.jsonl.gz``/``.json``/``.json.gz`` (records with a
configurable field mapping), ``.parquet`` (same mapping), ``.txt``, ``.md``, ``.html``/``.htm``,
``.pdf`` (text layer) and ``.docx``. Anything else is an ``unsupported_format`` rejection: a
file in the corpus is never skipped silently.
"""

from __future__ import annotations

import errno
import glob
import gzip
import io
import json
import os
import posixpath
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs

from proda_ray.spec.config import ReadConfig
from proda_ray.spec.decode import DecodeError, decode_bytes
from proda_ray.spec.html_text import html_to_text
from proda_ray.spec.records import RawDoc
from proda_ray.workspace.rejections import Rejection
from proda_ray.workspace.storage import open_filesystem

FORMATS = {
    ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl", ".json": "json",
    ".json.gz": "json", ".parquet": "parquet", ".txt": "text", ".text": "text",
    ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".pdf": "pdf", ".docx": "docx",
}


@dataclass(frozen=True)
class CorpusFile:
    uri: str  # what to open (local path or URI)
    rel_path: str  # relative to the corpus root given by the user (stable across machines)
    size: int
    mtime_ns: int
    problem: str = ""  # a path found but not readable as a file: the rejection's reason
    detail: str = ""


def detect_format(path: str) -> str | None:
    name = path.lower()
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    return None


def list_corpus(paths: list[str]) -> list[CorpusFile]:
    """Expand files, directories (recursively) and globs; sorted, de-duplicated.

    Local paths are walked here, not by pyarrow: no symlink loop is followed, a file reached
    twice (through links) is listed once (by its resolved path), and every path that cannot
    be read as a file — a FIFO or device, a dangling link, a link loop, a directory or file
    without read permission — is listed with its ``problem``, so it becomes a rejection row
    instead of a hang, a crash or a silent drop."""
    found: dict[str, CorpusFile] = {}
    seen: dict[str, str] = {}  # resolved path -> the key it was listed under
    for spec in paths:
        if "://" not in spec and any(c in spec for c in "*?["):
            root = spec.split("*")[0].split("?")[0].split("[")[0]
            root = root if root.endswith(os.sep) else os.path.dirname(root)
            matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
            if not matches:
                raise FileNotFoundError(f"corpus glob {spec!r} matches no file; fix the "
                                        "pattern in --corpus or spec.corpus")
            for p in matches:
                if not os.path.isdir(p):
                    _add_local(found, seen, p, root)
            continue
        if "://" not in spec or spec.startswith("file://"):
            local = os.path.expanduser(spec.removeprefix("file://"))
            if not os.path.lexists(local):
                raise FileNotFoundError(f"corpus path not found: {spec}")
            if os.path.isdir(local):
                _walk_local(found, seen, local)
            else:
                _add_local(found, seen, local, os.path.dirname(os.path.abspath(local)))
            continue
        fs, path = open_filesystem(spec)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"corpus path not found: {spec}")
        scheme = spec.split("://", 1)[0] + "://" if "://" in spec else ""
        if info.type == pafs.FileType.File:
            found[_uri(scheme, info.path)] = CorpusFile(
                _uri(scheme, info.path), posixpath.basename(info.path), info.size or 0,
                info.mtime_ns or 0,
            )
            continue
        for f in fs.get_file_info(pafs.FileSelector(path, recursive=True)):
            if f.type == pafs.FileType.File:
                rel = posixpath.relpath(f.path, path)
                found[_uri(scheme, f.path)] = CorpusFile(
                    _uri(scheme, f.path), rel, f.size or 0, f.mtime_ns or 0
                )
    if not found:
        raise FileNotFoundError(f"the corpus has no file to read ({', '.join(paths)}); point "
                                "--corpus or spec.corpus at files or non-empty directories")
    return sorted(found.values(), key=lambda f: (f.rel_path, f.uri))


def _uri(scheme: str, path: str) -> str:
    return f"{scheme}{path}" if scheme else path


def _problem(found: dict, path: str, rel: str, reason: str, detail: str) -> None:
    """A path that cannot be read as a file: listed with the reason its rejection gets."""
    found.setdefault(path, CorpusFile(path, rel, 0, 0, reason, detail))


def _add_local(found: dict, seen: dict, p: str, root: str) -> None:
    """One local path: a file (once, whichever link reached it) or a problem entry."""
    ap = os.path.abspath(p)
    rel = os.path.relpath(ap, os.path.abspath(root or "."))

    def problem(reason: str, detail: str) -> None:
        _problem(found, ap, rel, reason, detail)

    if _SURROGATE.search(rel):  # os.listdir's stand-ins for bytes that are not UTF-8
        rel = _SURROGATE.sub("\ufffd", rel)
        problem("undecodable_name", "the file name is not valid UTF-8")
        return

    try:
        st = os.stat(ap)  # follows links
    except OSError as e:
        if e.errno == errno.ELOOP:
            problem("symlink_loop", "the link resolves to itself")
        elif os.path.islink(ap) and e.errno == errno.ENOENT:
            problem("dangling_symlink", f"the link points to {os.readlink(ap)!r}, "
                    "which does not exist")
        elif e.errno in (errno.EACCES, errno.EPERM):
            problem("permission_denied", "cannot stat the path")
        else:
            problem("read_error", f"{type(e).__name__}: {e.strerror or e}")
        return
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(
            st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(
            st.st_mode) else "not a regular file")
        problem("not_regular_file", f"the path is {kind}")
        return
    real = os.path.realpath(ap)
    if real in seen and seen[real] != ap:  # the same file through another link: read once
        problem("duplicate_path", f"the same file as {os.path.relpath(seen[real], root)!r}")
        return
    if not os.access(ap, os.R_OK):
        problem("permission_denied", "the file is not readable")
        return
    seen[real] = ap
    found[ap] = CorpusFile(ap, rel, st.st_size, st.st_mtime_ns)


def _walk_local(found: dict, seen: dict, top: str) -> None:
    """A directory tree, following links to directories at most once each (by device and
    inode), so ``ln -s . loop`` neither repeats files nor recurses forever."""
    root = os.path.abspath(top)
    visited: set[tuple[int, int]] = set()

    def walk(d: str) -> None:
        rel = os.path.relpath(d, root)
        try:
            st = os.stat(d)
        except OSError as e:
            _problem(found, d, rel, "read_error", str(e.strerror or e))
            return
        if (st.st_dev, st.st_ino) in visited:  # a link to a directory walked already
            target, parent = os.path.realpath(d), os.path.realpath(os.path.dirname(d))
            loop = parent == target or parent.startswith(target.rstrip("/") + "/")
            _problem(found, d, rel, "symlink_loop" if loop else "duplicate_path",
                     "a link to a directory that contains it" if loop
                     else f"a link to {target!r}, walked already")
            return
        visited.add((st.st_dev, st.st_ino))
        try:
            names = sorted(os.listdir(d))
        except OSError as e:
            reason = "permission_denied" if isinstance(e, PermissionError) else "read_error"
            _problem(found, d, rel if rel != "." else os.path.basename(d), reason,
                     f"cannot list the directory: {e.strerror or e}")
            return
        for name in names:
            p = os.path.join(d, name)
            if os.path.isdir(p):  # follows links; the inode check stops loops
                walk(p)
            else:
                _add_local(found, seen, p, root)

    walk(root)


def read_file(f: CorpusFile, cfg: ReadConfig, min_decode_confidence: float = 0.8
              ) -> Iterator[RawDoc | Rejection]:
    """Every document in ``f``, or rejections; exceptions never escape."""
    if f.problem:
        yield Rejection(f.rel_path, "read", f.problem, f.detail)
        return
    fmt = detect_format(f.rel_path)
    if fmt is None:
        yield Rejection(f.rel_path, "read", "unsupported_format",
                        f"no reader for {posixpath.basename(f.rel_path)!r}")
        return
    if f.size == 0:
        yield Rejection(f.rel_path, "read", "empty_file", "the file has 0 bytes")
        return
    streaming = fmt in ("jsonl", "parquet")
    if not streaming and f.size > cfg.max_file_bytes:
        yield Rejection(f.rel_path, "read", "file_too_large",
                        f"{f.size} bytes > max_file_bytes={cfg.max_file_bytes}")
        return
    reader = {
        "jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet, "text": _read_text,
        "markdown": _read_text, "html": _read_html, "pdf": _read_pdf, "docx": _read_docx,
    }[fmt]
    produced = 0
    try:
        for item in reader(f, fmt, cfg, min_decode_confidence):
            produced += 1
            yield item
    except DecodeError as e:  # whole-file formats: the file is not text we can read
        yield Rejection(f.rel_path, "decode", e.reason, e.detail)
        return
    except PermissionError as e:
        yield Rejection(f.rel_path, "read", "permission_denied", f"{e.strerror or e}")
        return
    except Exception as e:  # a broken file is a rejection, never the end of the job
        reason = "corrupt_file" if _is_corruption(e) else "read_error"
        yield Rejection(f.rel_path, "read", reason,
                        f"{type(e).__name__}: {e} (after {produced} records)")
        return
    if not produced:  # blank lines only, an empty array, a Parquet file of 0 rows
        yield Rejection(f.rel_path, "read", "no_records", "the file holds no record")


def _is_corruption(e: Exception) -> bool:
    import zipfile
    import zlib

    names = {"PdfReadError", "PdfStreamError", "ArrowInvalid", "PackageNotFoundError"}
    return isinstance(e, gzip.BadGzipFile | EOFError | zlib.error | zipfile.BadZipFile
                      | OSError) or type(e).__name__ in names


def _open_bytes(f: CorpusFile) -> bytes:
    """The file's bytes as stored (no decompression by extension: readers decide)."""
    fs, path = open_filesystem(f.uri)
    with fs.open_input_stream(path, compression=None) as s:
        return s.read()


def _open_stream(f: CorpusFile):
    fs, path = open_filesystem(f.uri)
    raw = fs.open_input_stream(path, compression=None)
    return gzip.GzipFile(fileobj=raw) if f.rel_path.lower().endswith(".gz") else raw


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(v: object) -> tuple[object, int]:
    """``v`` with lone surrogates (JSON's "\\ud800", which no UTF-8 writer accepts)
    replaced by U+FFFD, in strings, lists and dict keys/values; and how many were."""
    if isinstance(v, str):
        return _SURROGATE.subn("\ufffd", v)
    if isinstance(v, list):
        pairs = [_clean(x) for x in v]
        return [x for x, _ in pairs], sum(n for _, n in pairs)
    if isinstance(v, dict):
        out, n = {}, 0
        for k, x in v.items():
            (ck, nk), (cx, nx) = _clean(k), _clean(x)
            out[ck] = cx
            n += nk + nx
        return out, n
    return v, 0


def _record_doc(rec: object, f: CorpusFile, fmt: str, index: int, cfg: ReadConfig,
                encoding: str = "utf-8") -> RawDoc | Rejection:
    """One record as a document, or its rejection (whatever is wrong with it)."""
    try:
        return _record_doc_or_raise(rec, f, fmt, index, cfg, encoding)
    except Exception as e:  # a record's fault is that record's rejection
        return Rejection(f.rel_path, "read", "invalid_record",
                         f"record {index}: {type(e).__name__}: {str(e)[:200]}")


def _record_doc_or_raise(rec: object, f: CorpusFile, fmt: str, index: int, cfg: ReadConfig,
                         encoding: str) -> RawDoc | Rejection:
    fm = cfg.fields
    where = f"{f.rel_path}#{index}"
    if not isinstance(rec, dict):
        return Rejection(f.rel_path, "read", "invalid_record",
                         f"record {index} is {type(rec).__name__}, not an object")
    rec, surrogates = _clean(rec)
    if surrogates:
        encoding = f"{encoding}+replaced_surrogates"
    text = rec.get(fm.text)
    rid = rec.get(fm.id) if fm.id else None
    rid = None if rid is None else str(rid)
    if not isinstance(text, str):
        return Rejection(f.rel_path, "read", "missing_text",
                         f"record {index}: field {fm.text!r} is "
                         f"{'absent' if text is None else type(text).__name__}", source_id=rid)
    title = rec.get(fm.title) if fm.title else None
    disc = None
    for key in (fm.discipline, fm.discipline_fallback):
        if key and rec.get(key) not in (None, ""):
            disc = str(rec[key])
            break
    skip = {fm.text, fm.id, fm.title}
    meta = {k: v for k, v in rec.items() if k not in skip and _jsonable(v)}
    return RawDoc(
        source_path=f.rel_path, source_key=f"id:{rid}" if rid else f"path:{where}",
        source_id=rid, format=fmt, text=text, encoding=encoding,
        title=str(title) if title else None, discipline_raw=disc, metadata=meta,
    )


def _jsonable(v: object) -> bool:
    return isinstance(v, str | int | float | bool | type(None) | list | dict)


def _lines(stream, block: int = 2**16) -> Iterator[bytes]:
    """Lines of a binary stream, read in blocks (pyarrow streams have no readline)."""
    rest = b""
    while data := stream.read(block):
        parts = (rest + data).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _read_jsonl(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    with _open_stream(f) as stream:
        for index, line in enumerate(_lines(stream)):
            if not line.strip():
                continue
            if len(line) > cfg.max_doc_chars * 4:
                yield Rejection(f.rel_path, "read", "too_large",
                                f"record {index}: {len(line)} bytes")
                continue
            try:
                text, enc = decode_bytes(line, min_conf)
            except DecodeError as e:
                yield Rejection(f.rel_path, "decode", e.reason, f"record {index}: {e.detail}")
                continue
            try:
                rec = json.loads(text)
            except (ValueError, RecursionError) as e:  # JSON syntax, 5,000-digit ints, depth
                yield Rejection(f.rel_path, "read", "invalid_json",
                                f"record {index}: {type(e).__name__}: {str(e)[:200]}",
                                preview=_clean(text[:200])[0])
                continue
            yield _record_doc(rec, f, fmt, index, cfg, enc)


def _read_json(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    data = _open_bytes(f)
    if f.rel_path.lower().endswith(".gz"):
        data = gzip.decompress(data)
    text, enc = decode_bytes(data, min_conf)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        yield Rejection(f.rel_path, "read", "invalid_json",
                        f"{type(e).__name__}: {str(e)[:200]}", preview=_clean(text[:200])[0])
        return
    records = obj if isinstance(obj, list) else [obj]
    for index, rec in enumerate(records):
        yield _record_doc(rec, f, fmt, index, cfg, enc)


def _read_parquet(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    import pyarrow.parquet as pq

    fs, path = open_filesystem(f.uri)
    pf = pq.ParquetFile(fs.open_input_file(path))
    index = 0
    for batch in pf.iter_batches(batch_size=256):
        for rec in batch.to_pylist():
            yield _record_doc(rec, f, fmt, index, cfg)
            index += 1


def _whole_file_doc(f: CorpusFile, fmt: str, text: str, enc: str, title: str | None = None
                    ) -> RawDoc:
    return RawDoc(source_path=f.rel_path, source_key=f"path:{f.rel_path}", source_id=None,
                  format=fmt, text=text, encoding=enc, title=title)


def _read_text(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    text, enc = decode_bytes(_open_bytes(f), min_conf)
    yield _whole_file_doc(f, fmt, text, enc)


def _read_html(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    html, enc = decode_bytes(_open_bytes(f), min_conf)
    text, title = html_to_text(html)
    yield _whole_file_doc(f, fmt, text, enc, title)


def _read_pdf(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(_open_bytes(f)))
    if reader.is_encrypted and not reader.decrypt(""):
        yield Rejection(f.rel_path, "read", "encrypted_pdf", "the PDF needs a password")
        return
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    title = (reader.metadata.title if reader.metadata else None) or None
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        yield Rejection(f.rel_path, "read", "no_text_layer",
                        f"{len(pages)} pages, no extractable text (scanned? OCR is not built in)")
        return
    yield _whole_file_doc(f, fmt, text, "pdf", title)


def _read_docx(f, fmt, cfg, min_conf) -> Iterator[RawDoc | Rejection]:
    import docx

    document = docx.Document(io.BytesIO(_open_bytes(f)))
    lines: list[str] = []
    for block in document.element.body.iterchildren():
        tag = block.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = docx.text.paragraph.Paragraph(block, document)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            if style == "Title":
                lines += [f"# {text}", ""]
            elif style.startswith("Heading") and style[7:].strip().isdigit():
                lines += ["#" * min(6, int(style[7:].strip()) + 1) + f" {text}", ""]
            elif style.startswith("List"):
                lines.append(f"- {text}")
            else:
                lines += [text, ""]
        elif tag == "tbl":
            table = docx.table.Table(block, document)
            for row in table.rows:
                lines.append(" | ".join(c.text.strip() for c in row.cells))
            lines.append("")
    title = document.core_properties.title or None
    yield _whole_file_doc(f, fmt, "\n".join(lines), "docx", title)
