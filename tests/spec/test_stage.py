"""The spec stage end to end on a real local Ray, over the bundled sample corpus."""

from __future__ import annotations

import os

import polars as pl
import pytest

from proda_ray.spec.config import SpecConfig
from proda_ray.spec.stage import SpecStage
from proda_ray.workspace import Workspace, run_stage
from tests.conftest import SAMPLE_CORPUS

EXPECTED_DOC_REJECTIONS = {
    "binary_content": 1, "corrupt_file": 3, "empty_document": 2, "empty_file": 1,
    "invalid_json": 1, "missing_text": 1, "near_duplicate": 1, "undecodable_encoding": 1,
    "unsupported_format": 1,
}


def table(ws: Workspace, manifest, name: str) -> pl.DataFrame:
    return pl.from_arrow(ws.read_parquet(manifest.outputs[name].path))


@pytest.fixture(scope="module")
def built(ray_local, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("spec"))
    cfg = SpecConfig(corpus=[str(SAMPLE_CORPUS)])
    return ws, cfg, run_stage(ws, SpecStage(cfg), show_progress=False)


def test_sample_corpus_counts(built):
    ws, _, run = built
    m = run.manifest
    assert run.status == "built"
    assert m.rejected["documents.rejected"] == EXPECTED_DOC_REJECTIONS
    assert m.counters["documents"] == 11 and m.counters["chunks"] >= 11
    assert m.counters["files"] == 19
    # every rejected row is written down with its reason, and counts agree with the table
    rej = table(ws, m, "documents.rejected")
    assert rej.height == sum(EXPECTED_DOC_REJECTIONS.values())
    assert dict(rej.group_by("reason").len().iter_rows()) == EXPECTED_DOC_REJECTIONS
    assert rej.filter(pl.col("reason") == "near_duplicate")["duplicate_of"].to_list() != [None]
    assert m.report["dedup"]["documents"]["near_duplicate"] == 1


def test_tables_are_consistent(built):
    ws, _, run = built
    docs = table(ws, run.manifest, "documents")
    chunks = table(ws, run.manifest, "chunks")
    assert docs["doc_id"].is_unique().all() and chunks["chunk_id"].is_unique().all()
    texts = dict(zip(docs["doc_id"], docs["text"], strict=True))
    for row in chunks.iter_rows(named=True):
        assert texts[row["doc_id"]][row["char_start"] : row["char_end"]] == row["text"]
        assert row["n_tokens"] <= 1024 and row["discipline"] is not None
    by_file = dict(zip(docs["source_path"], docs["discipline"], strict=False))
    assert by_file["physics_heat_transfer.md"] == "Physics"
    assert by_file["biology_photosynthesis.txt"] == "Biology"
    assert by_file["earth_science_plates_cp1252.txt"] == "Earth Science"
    assert set(docs.filter(pl.col("discipline_source") == "metadata")["discipline"]) == {
        "Economics", "Computer Science"}


def test_rerun_is_noop_and_chunk_size_rebuilds(built):
    ws, cfg, run = built
    again = run_stage(ws, SpecStage(cfg), show_progress=False)
    assert again.status == "up-to-date" and again.seconds < 5
    small = cfg.model_copy(deep=True)
    small.chunk.max_tokens = 128
    small.chunk.overlap_tokens = 16
    rebuilt = run_stage(ws, SpecStage(small), show_progress=False)
    assert rebuilt.status == "built"
    assert rebuilt.manifest.fingerprint != run.manifest.fingerprint
    assert rebuilt.manifest.counters["chunks"] > run.manifest.counters["chunks"]
    assert table(ws, rebuilt.manifest, "chunks")["n_tokens"].max() <= 128


def test_resume_reuses_finished_shards(ray_local, tmp_path):
    """Lose the commit and the later phases of some shards: only those are recomputed."""
    ws = Workspace(tmp_path)
    cfg = SpecConfig(corpus=[str(SAMPLE_CORPUS)])
    cfg.read.shard_bytes = 4096  # several shards from the small sample
    first = run_stage(ws, SpecStage(cfg), show_progress=False)
    scratch = f"stages/spec/runs/{first.manifest.fingerprint}"
    p1 = ws.list_files(scratch, "p1", suffix=".done.json")
    assert len(p1) >= 3
    mtimes = {f: os.stat(ws.path(f)).st_mtime_ns for f in p1}
    # simulate a crash in phase 3: the commit, phase-3+ markers of half the shards, dedup
    ws.delete("stages/spec/manifest.json")
    ws.delete(f"{scratch}/manifest.json")
    for f in ws.list_files(scratch, "p3", suffix=".done.json")[::2]:
        ws.delete(f)
    ws.delete(scratch, "p5")
    ws.delete(scratch, "chunk_dups.done.json")
    resumed = run_stage(ws, SpecStage(cfg), show_progress=False)
    assert resumed.status == "built"
    assert {f: os.stat(ws.path(f)).st_mtime_ns for f in p1} == mtimes  # phase 1 not redone
    for name in ("documents", "chunks"):
        a = table(ws, first.manifest, name).sort(f"{name[:-1]}_id" if name == "chunks"
                                                  else "doc_id")
        b = table(ws, resumed.manifest, name).sort(a.columns[0] if name == "documents"
                                                   else "chunk_id")
        assert a.equals(b)
    assert resumed.manifest.rejected == first.manifest.rejected
