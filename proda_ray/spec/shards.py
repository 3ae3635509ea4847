"""The spec stage's work, one shard at a time. No Ray here: tables in, tables out.

A shard is a group of corpus files (~64 MB; a big file alone). Each function below is what
one Ray task or actor call does for one shard; ``spec/stage.py`` schedules them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from proda_ray.ids import content_hash, make_id
from proda_ray.schema import CHUNKS, DOCUMENTS
from proda_ray.spec.chunk import chunk_text
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.dedup import Duplicate, exact_key, find_duplicates
from proda_ray.spec.disciplines import Discipline, match_metadata
from proda_ray.spec.language import guess_language
from proda_ray.spec.minhash import MinHasher
from proda_ray.spec.normalize import normalize_text
from proda_ray.spec.quality import assess
from proda_ray.spec.readers import CorpusFile, read_file
from proda_ray.spec.records import RawDoc
from proda_ray.workspace.rejections import Rejection, rejected_table

# staging tables carry the MinHash signature next to the final columns
DOC_STAGING = DOCUMENTS.append(pa.field("minhash", pa.binary()))
CHUNK_STAGING = CHUNKS.append(pa.field("minhash", pa.binary()))
DUPLICATES = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("kept_id", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("similarity", pa.float32()),
    pa.field("locator", pa.string()),  # "<shard>:<row>" for duplicate_id drops (id is ambiguous)
])


@dataclass
class DuplicateIndex:
    """Dedup results as the shard workers look them up."""

    by_id: dict[str, Duplicate]
    locators: dict[str, Duplicate]

    @staticmethod
    def from_table(t: pa.Table) -> DuplicateIndex:
        by_id, locators = {}, {}
        for r in t.to_pylist():
            dup = Duplicate(r["id"], r["kept_id"], r["reason"], r["similarity"])
            if r["locator"]:
                locators[r["locator"]] = dup
            else:
                by_id[r["id"]] = dup
        return DuplicateIndex(by_id, locators)

    def lookup(self, row_id: str, locator: str) -> Duplicate | None:
        return self.locators.get(locator) or self.by_id.get(row_id)


@dataclass(frozen=True)
class Shard:
    key: str
    files: tuple[CorpusFile, ...]

    def to_row(self) -> dict:
        return {"key": self.key, "files": json.dumps([f.__dict__ for f in self.files])}

    @staticmethod
    def from_row(row: dict) -> Shard:
        return Shard(row["key"], tuple(CorpusFile(**f) for f in json.loads(row["files"])))


def plan_shards(files: list[CorpusFile], target_bytes: int = 2 * 2**20) -> list[Shard]:
    """Deterministic grouping of sorted files into shards of about ``target_bytes`` of text.

    Compressed files count 5x their size (typical for text). The plan depends on the file
    list only, never on the number of workers, so a resumed run sees the same shards.
    """
    shards, group, size = [], [], 0
    for f in files:
        est = f.size * (5 if f.rel_path.lower().endswith((".gz", ".zst", ".bz2")) else 1)
        if group and size + est > target_bytes:
            shards.append(group)
            group, size = [], 0
        group.append(f)
        size += est
    if group:
        shards.append(group)
    return [Shard(content_hash(*(f.rel_path for f in g), digest_bytes=6), tuple(g))
            for g in shards]


def _hasher(cfg: SpecConfig) -> MinHasher:
    d = cfg.dedup
    return MinHasher(d.num_bands * d.rows_per_band, d.seed, d.shingle_words)


def _count_rejections(c: Counter, table: str, rejects: list[Rejection]) -> None:
    """Counter keys ``rejected:<table>:<reason>``: the stage sums them into the manifest."""
    for r in rejects:
        c[f"rejected:{table}:{r.reason}"] += 1


# --- phase 1: read + normalize ------------------------------------------------------------

def read_shard(shard: Shard, cfg: SpecConfig, taxonomy: list[Discipline], c: Counter,
               batch_chars: int = 32 * 2**20, batch_rows: int = 512
               ) -> Iterator[dict[str, pa.Table]]:
    """Staged documents and rejections of one shard, in bounded batches (counts go to ``c``).

    Yields ``{"docs": …, "rejected": …}`` whenever ~``batch_chars`` of text or ``batch_rows``
    rows have accumulated, so a single huge file never has to fit in memory.
    """
    hasher = _hasher(cfg)
    rows: list[dict] = []
    rejects: list[Rejection] = []
    held = 0

    def flush() -> dict[str, pa.Table]:
        nonlocal rows, rejects, held
        _count_rejections(c, "documents.rejected", rejects)
        out = {"docs": pa.Table.from_pylist(rows, schema=DOC_STAGING),
               "rejected": rejected_table(rejects)}
        rows, rejects, held = [], [], 0
        return out

    for f in shard.files:
        c["files"] += 1
        c["bytes"] += f.size
        for item in read_file(f, cfg.read, cfg.normalize.min_decode_confidence):
            if isinstance(item, Rejection):
                rejects.append(item)
            else:
                c["documents_read"] += 1
                doc = _prepare_doc(item, cfg, taxonomy, hasher)
                if isinstance(doc, Rejection):
                    rejects.append(doc)
                else:
                    c["chars"] += doc["n_chars"]
                    held += doc["n_chars"]
                    rows.append(doc)
            if held >= batch_chars or len(rows) + len(rejects) >= batch_rows:
                yield flush()
    yield flush()


def _prepare_doc(raw: RawDoc, cfg: SpecConfig, taxonomy: list[Discipline], hasher: MinHasher
                 ) -> dict | Rejection:
    doc_id = make_id("doc", raw.source_key)
    where = {"source_path": raw.source_path, "source_id": raw.source_id, "id": doc_id}
    if len(raw.text) > cfg.read.max_doc_chars:
        return Rejection(step="read", reason="too_large", preview=raw.text[:200],
                         detail=f"{len(raw.text)} chars > max_doc_chars={cfg.read.max_doc_chars}",
                         **where)
    text = normalize_text(raw.text, cfg.normalize, paged=raw.format == "pdf")
    if len(text) < max(1, cfg.read.min_doc_chars):
        return Rejection(step="normalize", reason="empty_document",
                         detail=f"{len(text)} characters after normalization", **where)
    lang = guess_language(text)
    allowed = cfg.normalize.allowed_languages
    if allowed and lang not in allowed:
        return Rejection(step="language", reason="language_filtered", preview=text[:200],
                         detail=f"guessed {lang!r}, allowed {allowed}", **where)
    disc = match_metadata(raw.discipline_raw, taxonomy) if cfg.disciplines.use_metadata else None
    meta = dict(raw.metadata)
    if raw.discipline_raw is not None and disc is None:
        meta["discipline_unmapped"] = raw.discipline_raw
    title = raw.title or text.split("\n", 1)[0].lstrip("#").strip()[:200]
    return {
        "doc_id": doc_id, "source_path": raw.source_path, "source_id": raw.source_id,
        "format": raw.format, "title": title, "text": text, "n_chars": len(text),
        "n_words": len(text.split()), "language": lang, "encoding": raw.encoding,
        "content_hash": exact_key(text),
        "discipline_code": disc.code if disc else None,
        "discipline": disc.name if disc else None,
        "discipline_source": "metadata" if disc else None,
        "discipline_score": 1.0 if disc else None,
        "metadata_json": json.dumps(meta, sort_keys=True, default=str) if meta else None,
        "minhash": hasher.signature(text).tobytes(),
    }


# --- phases 2 and 4: dedup -------------------------------------------------------------------

def dedup_rows(table: pa.Table, id_col: str, cfg: SpecConfig) -> tuple[pa.Table, dict]:
    """Duplicates among the rows of ``table``.

    Columns: the id, ``content_hash``, ``minhash`` and ``locator`` ("<shard>:<row>"). The same
    id twice (one record id in two files) keeps the first row by locator: a ``duplicate_id``
    drop addressed by locator. Content duplicates are addressed by id.

    Memory: the table, one copy of its signatures as a matrix, and the ids, keys and locators
    as Python strings (about 1.5 KB a row at the peak; no Python object per signature).
    """
    d = cfg.dedup
    ids = table.column(id_col).to_pylist()
    keys = table.column("content_hash").to_pylist()
    locs = table.column("locator").to_pylist()
    rows: list[dict] = []
    seen: set[str] = set()
    unique = []
    for i in sorted(range(len(ids)), key=locs.__getitem__):  # the first by locator stays
        x = ids[i]
        if x in seen:
            rows.append({"id": x, "kept_id": x, "reason": "duplicate_id", "similarity": 1.0,
                         "locator": locs[i]})
        else:
            seen.add(x)
            unique.append(i)
    if d.enabled and unique:
        unique.sort()  # table order: find_duplicates orders rows by id itself
        sigs = signature_matrix(table.column("minhash"))
        if len(unique) < len(ids):
            sigs = sigs[np.array(unique)]
        found = find_duplicates([ids[i] for i in unique], [keys[i] for i in unique], sigs,
                                d.num_bands, d.rows_per_band, d.jaccard_threshold)
        rows += [{**dup.__dict__, "locator": None} for dup in found]
    return duplicates_table(rows, len(ids))


def signature_matrix(col: pa.ChunkedArray) -> np.ndarray:
    """A binary column of equal-length signatures as one ``(rows, values)`` uint32 matrix,
    read from the Arrow buffers (one copy, no Python object per row)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = len(arr)
    if arr.null_count:
        raise ValueError("a row has no MinHash signature")
    if n == 0:
        return np.zeros((0, 0), np.uint32)
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset:arr.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width % 4 or np.any(np.diff(offsets) != width):
        raise ValueError("MinHash signatures differ in length")
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    return data.view(np.uint32).reshape(n, width // 4)


def duplicates_table(rows: list[dict], n_rows: int) -> tuple[pa.Table, dict]:
    """The ``DUPLICATES`` table of dedup's drops and its report (counts by reason, groups)."""
    out = pa.Table.from_pylist(rows, schema=DUPLICATES)
    report = Counter(r["reason"] for r in rows)
    report["groups"] = len({r["kept_id"] for r in rows})
    report["rows"] = n_rows
    return out, dict(report)


# --- phase 3: drop duplicate docs, tag disciplines, chunk, score ----------------------------

def chunk_shard(shard: str, doc_batches: Iterable[pa.RecordBatch], dups: DuplicateIndex,
                cfg: SpecConfig, tokenizer, classifier, c: Counter
                ) -> Iterator[dict[str, pa.Table]]:
    """Per batch of staged documents: ``{"documents", "documents.rejected", "chunks",
    "chunks.rejected"}`` (duplicates dropped, disciplines tagged, chunked, scored)."""
    hasher = _hasher(cfg)
    ch = cfg.chunk
    min_tokens = int(ch.section_fill * ch.max_tokens)
    row_index = 0  # position in the shard's staged table: the dedup locator
    for batch in doc_batches:
        kept, doc_rejects = [], []
        for row in batch.to_pylist():
            row.pop("minhash", None)
            dup = dups.lookup(row["doc_id"], f"{shard}:{row_index:09d}")
            row_index += 1
            if dup is not None:
                doc_rejects.append(Rejection(
                    row["source_path"], "dedup", dup.reason, id=row["doc_id"],
                    source_id=row["source_id"], duplicate_of=dup.kept_id,
                    preview=row["text"][:200],
                    detail=f"estimated Jaccard {dup.similarity:.2f} with {dup.kept_id}"))
            else:
                kept.append(row)
        _tag_disciplines(kept, cfg, classifier, c)
        chunk_rows, chunk_rejects = [], []
        for doc in kept:
            made, rejected = _chunk_doc(doc, cfg, tokenizer, hasher, min_tokens, c)
            chunk_rows += made
            chunk_rejects += rejected
        _count_rejections(c, "documents.rejected", doc_rejects)
        _count_rejections(c, "chunks.rejected", chunk_rejects)
        c["documents_kept"] += len(kept)
        yield {
            "documents": pa.Table.from_pylist(kept, schema=DOCUMENTS),
            "documents.rejected": rejected_table(doc_rejects),
            "chunks": pa.Table.from_pylist(chunk_rows, schema=CHUNK_STAGING),
            "chunks.rejected": rejected_table(chunk_rejects),
        }


def _chunk_doc(doc: dict, cfg: SpecConfig, tokenizer, hasher: MinHasher, min_tokens: int,
               c: Counter) -> tuple[list[dict], list[Rejection]]:
    ch = cfg.chunk
    seen_text: Counter = Counter()
    pieces = chunk_text(doc["text"], tokenizer, ch.max_tokens, ch.overlap_tokens, min_tokens,
                        max_chars=ch.char_bound)
    rows, rejects = [], []
    for index, piece in enumerate(pieces):
        occurrence = seen_text[piece.text]
        seen_text[piece.text] += 1
        chunk_id = make_id("chunk", doc["doc_id"], piece.text, str(occurrence))
        c["chunks_made"] += 1
        score, signals, reason = assess(piece.text, cfg.quality.threshold, cfg.quality.min_words)
        if reason:
            rejects.append(Rejection(
                doc["source_path"], "quality", reason, id=chunk_id, source_id=doc["source_id"],
                preview=piece.text[:200],
                detail=f"score {score:.2f}; signals {json.dumps(signals)}"))
            continue
        rows.append({
            "chunk_id": chunk_id, "doc_id": doc["doc_id"], "chunk_index": index,
            "char_start": piece.start, "char_end": piece.end,
            "section_path": list(piece.section_path), "text": piece.text,
            "n_tokens": piece.n_tokens, "n_words": len(piece.text.split()),
            "content_hash": exact_key(piece.text), "quality_score": score,
            "quality_signals_json": json.dumps(signals, sort_keys=True),
            "discipline_code": doc["discipline_code"], "discipline": doc["discipline"],
            "title": doc["title"], "source_path": doc["source_path"],
            "minhash": hasher.signature(piece.text).tobytes(),
        })
    if not rows:
        c["documents_without_chunks"] += 1
    return rows, rejects


def _tag_disciplines(docs: list[dict], cfg: SpecConfig, classifier, c: Counter) -> None:
    todo = [d for d in docs if d["discipline_code"] is None]
    if todo and cfg.disciplines.classify:
        results = classifier.classify([(d["title"], d["text"]) for d in todo])
        for d, (disc, score) in zip(todo, results, strict=True):
            d["discipline_score"] = score
            if disc is not None:
                d.update(discipline_code=disc.code, discipline=disc.name,
                         discipline_source="embedding")
    for d in docs:
        if d["discipline_code"] is None:
            d["discipline_source"] = "unclassified"
        c[f"discipline_source:{d['discipline_source']}"] += 1


# --- phase 5: drop duplicate chunks ----------------------------------------------------------

def finalize_chunks(shard: str, chunk_batches: Iterable[pa.RecordBatch],
                    dups: DuplicateIndex, c: Counter) -> Iterator[dict[str, pa.Table]]:
    """Per batch of staged chunks: ``{"chunks", "chunks.rejected"}`` without duplicates."""
    row_index = 0
    for batch in chunk_batches:
        staged = pa.Table.from_batches([batch])
        keep, rejects = [], []
        for i, chunk_id in enumerate(staged.column("chunk_id").to_pylist()):
            dup = dups.lookup(chunk_id, f"{shard}:{row_index + i:09d}")
            if dup is None:
                keep.append(i)
                continue
            row = staged.slice(i, 1).to_pylist()[0]
            rejects.append(Rejection(
                row["source_path"], "dedup", dup.reason, id=chunk_id, duplicate_of=dup.kept_id,
                preview=row["text"][:200],
                detail=f"estimated Jaccard {dup.similarity:.2f} with {dup.kept_id}"))
        row_index += staged.num_rows
        _count_rejections(c, "chunks.rejected", rejects)
        chunks = staged.take(pa.array(keep, type=pa.int64())).drop_columns(["minhash"])
        c["chunks_kept"] += chunks.num_rows
        yield {"chunks": chunks.cast(CHUNKS), "chunks.rejected": rejected_table(rejects)}
