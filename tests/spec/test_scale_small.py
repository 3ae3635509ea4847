"""The scale benchmark's corpus at 5k documents (CI's version of benchmarks/scale.py).

The generator (benchmarks/synth_corpus.py) is the input here, not the code under test: it
plants exact copies, near copies (with their true shingle Jaccard) and related documents
(heavy edits, not duplicates) of earlier documents. The whole spec stage runs on Ray, and
this test scores its document dedup on its own, with polars joins over the output tables.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import polars as pl
import pytest

from proda_ray.spec.config import SpecConfig
from proda_ray.spec.stage import SpecStage
from proda_ray.workspace import Workspace, run_stage
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _generator():
    spec = importlib.util.spec_from_file_location("synth_corpus",
                                                  REPO / "benchmarks" / "synth_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["synth_corpus"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_planted_duplicates_found_at_5k_documents(ray_local, tmp_path):
    counts = _generator().write_corpus(tmp_path / "corpus", 5000, seed=3, docs_per_file=250)
    assert counts["files"] == 20 and counts["exact"] > 50 and counts["near"] > 100
    cfg = SpecConfig(corpus=[str(tmp_path / "corpus" / "*.jsonl.gz")])
    ws = Workspace(tmp_path / "ws")
    m = run_stage(ws, SpecStage(cfg, workers=2), show_progress=False).manifest
    assert m.counters["shards"] >= 4, m.counters  # duplicates planted across shards

    truth = pl.read_ndjson(tmp_path / "corpus" / "truth.jsonl")
    docs = pl.from_arrow(ws.read_parquet(m.outputs["documents"].path,
                                         columns=["doc_id", "source_id"]))
    rej = pl.from_arrow(ws.read_parquet(m.outputs["documents.rejected"].path))
    # every document's group as the stage decided it: the source id it was kept as
    dropped = (rej.filter(pl.col("reason").is_in(["exact_duplicate", "near_duplicate"]))
               .join(docs.rename({"doc_id": "duplicate_of", "source_id": "kept"}),
                     on="duplicate_of", how="left")
               .select("source_id", "kept"))
    assert dropped["kept"].null_count() == 0  # every drop points at a kept document
    group = dict(zip(dropped["source_id"], dropped["kept"], strict=True))

    def same_group(a: str, b: str) -> bool:
        return group.get(a, a) == group.get(b, b)

    copies = truth.filter(pl.col("kind").is_in(["exact", "near"]))
    base_of = dict(zip(copies["id"], copies["of"], strict=True))
    wanted = copies.filter((pl.col("kind") == "exact") | (pl.col("jaccard") >= 0.8))
    found = sum(same_group(a, b) for a, b in zip(wanted["id"], wanted["of"], strict=True))
    right = sum(base_of.get(d, d) == base_of.get(k, k) for d, k in group.items())
    related = truth.filter(pl.col("kind") == "related")["id"].to_list()
    report = json.dumps({"found": found, "wanted": wanted.height, "right": right,
                         "dropped": len(group), "timings": m.timings_s})
    print(report)
    assert found / wanted.height >= 0.95, report  # recall
    assert right / len(group) >= 0.95, report  # precision
    assert sum(r in group for r in related) <= 0.05 * len(related), report
