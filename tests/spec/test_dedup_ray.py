"""The dedup across the cluster (Ray Data groupby + joins) gives the single task's groups.

Planted input covers every path of the single-task code: exact copies (case and spacing
changed), near copies (a word or two edited), a bucket too big to compare pairwise (300 rows
sharing a template, so only a window of neighbours is compared), chains that join only
transitively, one record id in two shards (same and different content), and rows that are
alone. The real-text case is the spec stage itself on the bundled sample, both ways.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from proda_ray.spec.config import SpecConfig
from proda_ray.spec.dedup import exact_key, find_duplicates
from proda_ray.spec.dedup_ray import find_duplicates_ray
from proda_ray.spec.minhash import MinHasher
from proda_ray.spec.shards import dedup_rows, duplicates_table
from proda_ray.workspace import Workspace
from tests.conftest import SAMPLE_CORPUS, openstax_texts


def planted_rows(seed: int = 0) -> list[tuple[str, str]]:
    """(id, text) rows; ids are unique except two planted repeats."""
    rng = random.Random(seed)
    words = " ".join(openstax_texts(40) or [p.read_text(errors="replace") for p in
                                            sorted(SAMPLE_CORPUS.rglob("*.txt"))]).split()
    def passage(n=120):
        start = rng.randrange(len(words) - n)
        return words[start:start + n]

    rows, k = [], 0

    def add(text):
        nonlocal k
        rows.append((f"r{rng.randrange(10**6):06d}-{k:04d}", text))
        k += 1

    for _ in range(60):  # originals, each with 0-3 copies of some kind
        base = passage()
        add(" ".join(base))
        for _ in range(rng.randrange(4)):
            kind = rng.choice(["exact", "near", "chain"])
            w = list(base)
            if kind == "exact":
                add("  " + " ".join(w).upper() + " ")
            else:
                w[rng.randrange(len(w))] = "edited"
                add(" ".join(w))
                if kind == "chain":  # a copy of the copy: joined to base through it
                    w[rng.randrange(len(w))] = "again"
                    add(" ".join(w))
    template = passage(200)
    for i in range(300):  # one big bucket: 300 one-word variants of one template
        w = list(template)
        w[rng.randrange(len(w))] = f"variant{i}"
        add(" ".join(w))
    for _ in range(40):
        add(" ".join(passage(rng.randrange(30, 200))))
    rows.append((rows[5][0], rows[5][1]))  # the same record twice: same content
    rows.append((rows[9][0], " ".join(passage())))  # the same id, other content
    return rows


def stage_files(ws: Workspace, rows: list[tuple[str, str]], shards: int) -> list:
    hasher = MinHasher(128, seed=1, shingle_words=5)
    files = []
    for s in range(shards):
        part = rows[s::shards]
        t = pa.table({"chunk_id": [r[0] for r in part],
                      "content_hash": [exact_key(r[1]) for r in part],
                      "minhash": [hasher.signature(r[1]).tobytes() for r in part]})
        path = f"p3/chunks/shard-{s:03d}.parquet"
        ws.write_parquet(path, t)
        files.append((path, f"shard-{s:03d}"))
    return files


def one_task(ws, files, cfg: SpecConfig) -> tuple[pa.Table, dict]:
    """The single-task path exactly as the stage's step runs it."""
    parts = []
    for path, shard in files:
        t = ws.read_parquet(path, columns=["chunk_id", "content_hash", "minhash"])
        parts.append(t.append_column("locator", pa.array(
            [f"{shard}:{i:09d}" for i in range(t.num_rows)], pa.string())))
    return dedup_rows(pa.concat_tables(parts), "chunk_id", cfg)


def across(ws, files, cfg: SpecConfig, **kw) -> tuple[pa.Table, dict]:
    d = cfg.dedup
    id_drops, found = find_duplicates_ray(
        ws, files, "chunk_id", enabled=d.enabled, num_bands=d.num_bands,
        rows_per_band=d.rows_per_band, threshold=d.jaccard_threshold, **kw)
    n = sum(ws.count_rows(f) for f, _ in files)
    return duplicates_table(id_drops + [{**x.__dict__, "locator": None} for x in found], n)


@pytest.mark.parametrize("threshold", [0.8, 0.5])
def test_same_groups_as_one_task_on_planted_rows(ray_local, tmp_path, threshold):
    ws = Workspace(tmp_path)
    files = stage_files(ws, planted_rows(), shards=3)
    cfg = SpecConfig(corpus=["unused"])
    cfg.dedup.jaccard_threshold = threshold
    want, want_report = one_task(ws, files, cfg)
    got, got_report = across(ws, files, cfg, partitions=3)
    assert got.to_pylist() == want.to_pylist()
    assert got_report == want_report
    # the planted input really exercises each path
    reasons = want_report
    assert reasons["exact_duplicate"] >= 10 and reasons["near_duplicate"] >= 250
    assert reasons["duplicate_id"] == 2


def test_a_bucket_too_big_to_compare_pairwise_is_windowed_the_same_way(ray_local, tmp_path):
    """Signatures made by hand: 300 rows share their first band; row i and row i+150 agree
    on 113 of 128 values but on no other whole band, so only a full pairwise comparison of
    the big bucket would join them, and the window (200 pairs over 300 rows: each row with
    its next neighbour) does not. Both paths must window alike."""
    rng = np.random.default_rng(0)
    n, half = 300, 150
    sigs = rng.integers(0, 2**32, size=(n, 128), dtype=np.uint32)
    sigs[:, :8] = sigs[0, :8]  # band 0: one bucket of 300
    for i in range(half):  # one value changed in each of bands 1..15
        sigs[i + half] = sigs[i]
        sigs[i + half, np.arange(1, 16) * 8] ^= 1
    ids = [f"s{i:04d}" for i in range(n)]
    ws = Workspace(tmp_path)
    files = []
    for s in range(2):
        t = pa.table({"chunk_id": ids[s::2], "content_hash": [f"h{i}" for i in ids[s::2]],
                      "minhash": [x.tobytes() for x in sigs[s::2]]})
        ws.write_parquet(f"p3/chunks/shard-{s}.parquet", t)
        files.append((f"p3/chunks/shard-{s}.parquet", f"shard-{s}"))
    cfg = SpecConfig(corpus=["unused"])
    want, _ = one_task(ws, files, cfg)
    got, _ = across(ws, files, cfg)
    assert got.to_pylist() == want.to_pylist()
    assert want.num_rows == 0  # windowed: the far pairs are never compared
    # compared in full, they join: the case is not vacuous
    full = find_duplicates(ids, [f"h{i}" for i in ids], sigs, 16, 8, 0.8, max_bucket_pairs=10**6)
    assert len(full) == half


def test_dedup_off_and_empty_input(ray_local, tmp_path):
    ws = Workspace(tmp_path)
    files = stage_files(ws, planted_rows(1), shards=2)
    cfg = SpecConfig(corpus=["unused"])
    cfg.dedup.enabled = False
    want, _ = one_task(ws, files, cfg)
    got, _ = across(ws, files, cfg)
    assert got.to_pylist() == want.to_pylist() and want.num_rows == 2
    assert find_duplicates_ray(ws, [], "chunk_id", enabled=True, num_bands=16,
                               rows_per_band=8, threshold=0.8) == ([], [])


@pytest.mark.slow
def test_the_spec_stage_dedups_alike_either_way(ray_local, tmp_path):
    """The whole stage on the bundled sample plus planted copies (an exact copy, a near copy
    of a document, a file whose paragraphs repeat another's): the same duplicate tables and
    the same final chunks with ``distributed: always`` as with ``never``."""
    import shutil

    from proda_ray.spec.stage import SpecStage
    from proda_ray.workspace import run_stage

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus)
    text = (corpus / "biology_photosynthesis.txt").read_text()
    (corpus / "photosynthesis_copy.txt").write_text(text.upper())
    (corpus / "photosynthesis_near.txt").write_text(text.replace(" the ", " a ", 3))
    paras = (corpus / "earth_science_water_cycle.md").read_text().split("\n\n")
    (corpus / "water_cycle_mix.md").write_text("\n\n".join(paras[::-1]))
    out = {}
    for mode in ("never", "always"):
        cfg = SpecConfig(corpus=[str(corpus)])
        cfg.chunk.max_tokens = 128
        cfg.dedup.distributed = mode
        ws = Workspace(tmp_path / mode)
        run = run_stage(ws, SpecStage(cfg, workers=2), show_progress=False)
        scratch = f"stages/spec/runs/{run.manifest.fingerprint}"
        out[mode] = {
            "dups": [ws.read_parquet(f"{scratch}/{t}.parquet").to_pylist()
                     for t in ("doc_dups", "chunk_dups")],
            "chunks": ws.read_parquet(run.manifest.outputs["chunks"].path)
            .sort_by("chunk_id").to_pylist(),
            "report": run.manifest.report["dedup"],
        }
    never, always = out["never"], out["always"]
    assert always["dups"] == never["dups"]
    assert always["chunks"] == never["chunks"]
    assert always["report"]["chunks"]["backend"] == "ray_data"
    assert never["report"]["documents"]["backend"] == "one_task"
    doc_dups, chunk_dups = never["dups"]
    assert {d["reason"] for d in doc_dups} == {"exact_duplicate", "near_duplicate"}
    assert chunk_dups, "the reordered paragraphs give duplicate chunks"
