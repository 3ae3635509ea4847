"""Extract + merge end to end: real Ray, the real embedded model (Gemma 3 270M, llama.cpp)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from proda_ray.engines.base import EngineUnavailable, OpenAIEngineConfig
from proda_ray.knowledge.config import ExtractConfig, MergeConfig
from proda_ray.knowledge.merge_stage import MergeStage
from proda_ray.knowledge.stage import ExtractStage, select_chunks
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.stage import SpecStage
from proda_ray.workspace import Workspace, run_stage
from tests.conftest import SAMPLE_CORPUS

pytestmark = pytest.mark.slow
PRODA = str(Path(sys.executable).with_name("proda"))


def table(ws: Workspace, manifest, name: str) -> pl.DataFrame:
    return pl.from_arrow(ws.read_parquet(manifest.outputs[name].path))


@pytest.fixture(scope="module")
def spec_ws(ray_local, tmp_path_factory):
    pytest.importorskip("llama_cpp", reason="needs the local extra")
    ws = Workspace(tmp_path_factory.mktemp("kc"))
    spec = SpecConfig(corpus=[str(SAMPLE_CORPUS)])
    spec.chunk.max_tokens = 256  # small chunks: fast extraction with the CPU model
    spec.chunk.overlap_tokens = 16
    run_stage(ws, SpecStage(spec), show_progress=False)
    return ws


FIELD_NAMES = re.compile(r"process_name|narrative_summary|negai?ti?ve_constraints|"
                         r"preconditions|source_quote|first_step|last_step")


def assert_no_junk(chains: pl.DataFrame, statements: pl.DataFrame, mentions: pl.DataFrame):
    """An independent check of kept nodes (shares no code with the gates): no repetition
    loop, no text of the prompts' examples, no schema field name, no URL."""
    prompts = Path(__file__).resolve().parents[2] / "proda_ray/knowledge/prompts"
    words = lambda t: re.findall(r"[a-z0-9]+", t.lower())  # noqa: E731
    example = set()
    for f in prompts.glob("*.txt"):
        w = words(re.sub(r"\{\w+\}", " ", f.read_text()))
        example |= {" ".join(w[i : i + 6]) for i in range(len(w) - 5)}
    fields = [*chains["process_name"], *chains["steps"].explode().drop_nulls(),
              *chains["preconditions"].explode().drop_nulls(),
              *chains["negative_constraints"].explode().drop_nulls(),
              *statements["subject"], *statements["predicate"], *statements["object"],
              *mentions["term"], *mentions["definition"]]
    for f in fields:
        w = words(f)
        assert not re.search(r"https?:|www\.|\.com\b|\.org\b", f), f
        assert not FIELD_NAMES.search(f), f
        assert not re.search(r"(\w{3,})(?:\W*\1){2,}", f.lower()), f
        assert not any(" ".join(w[i : i + 6]) in example for i in range(len(w) - 5)), f


def test_select_chunks_spreads_across_disciplines():
    ids = [f"c{i}" for i in range(9)]
    codes = ["001"] * 5 + ["006"] * 3 + [None]
    cfg = ExtractConfig(limit=4)
    assert select_chunks(ids, codes, codes, cfg) == ["c0", "c1", "c5", "c8"]
    cfg = ExtractConfig(disciplines=["006"])
    assert select_chunks(ids, codes, codes, cfg) == ["c5", "c6", "c7"]


def test_extract_and_merge_with_the_local_model(spec_ws):
    ws = spec_ws
    cfg = ExtractConfig(limit=4)
    ex = run_stage(ws, ExtractStage(cfg, workers=2), show_progress=False)
    mg = run_stage(ws, MergeStage(MergeConfig()), show_progress=False)
    m = ex.manifest
    assert m.counters["role:expository"] == 4 and m.usage.calls > 0  # the engine typed concepts
    chunks = pl.from_arrow(ws.read_parquet(ws.read_json("stages/spec/manifest.json")
                                           ["outputs"]["chunks"]["path"]))
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    statements = table(ws, mg.manifest, "statements")
    chains = table(ws, mg.manifest, "chains")
    concepts = table(ws, mg.manifest, "concepts")
    assert statements.height > 0 and concepts.height > 0
    assert_no_junk(chains, statements, table(ws, ex.manifest, "concept_mentions"))
    # grounding rate of kept statements = 100%: every quote sits at its offsets in its chunk
    for s in statements.iter_rows(named=True):
        assert text[s["chunk_id"]][s["quote_char_start"] : s["quote_char_end"]] == \
            s["source_quote"]
    # no dangling links, and every index link resolves both ways
    qa = mg.manifest.report["graph"]
    assert qa["dangling_links"] == 0
    assert set(statements["chain_id"].drop_nulls()) <= set(chains["chain_id"])
    assert set(concepts["statement_ids"].explode().drop_nulls()) <= \
        set(statements["statement_id"])
    index = table(ws, mg.manifest, "kc_index")
    edges = set(zip(index["src_id"], index["dst_id"], strict=True))
    assert all((d, s) in edges for s, d in edges)
    # every rejection is written down with a reason, and counted
    rejected = table(ws, m, "extraction.rejected")
    counted = sum(m.rejected.get("extraction.rejected", {}).values())
    assert rejected.height == counted and rejected["reason"].null_count() == 0
    # a rerun is free: nothing rebuilt, no call made
    again = run_stage(ws, ExtractStage(cfg, workers=2), show_progress=False)
    assert again.status == "up-to-date"


def test_a_dead_server_fails_the_stage_before_it_spends_work(spec_ws):
    """Issue 18: a dead engine is a failed stage (one line, not committed, retried on a
    rerun), not a built stage of connection_error rejections marked fresh."""
    manifest = Path(spec_ws.uri, "stages", "extract", "manifest.json")
    before = manifest.read_bytes() if manifest.exists() else None
    dead = OpenAIEngineConfig(base_url="http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.05,
                              timeout_s=2)
    cfg = ExtractConfig(engine=dead, limit=2, retries=0)
    t0 = time.monotonic()
    with pytest.raises(EngineUnavailable, match=r"127\.0\.0\.1:9/v1 cannot be reached"):
        run_stage(spec_ws, ExtractStage(cfg), show_progress=False)
    assert time.monotonic() - t0 < 30
    assert (manifest.read_bytes() if manifest.exists() else None) == before


def test_sigkill_mid_extraction_resends_nothing(spec_ws, tmp_path):
    ws = spec_ws
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    args = [PRODA, "extract", "-w", ws.uri, "-q", "--workers", "1", "--limit", "4",
            "--set", "extract.seed=7", "--set", "extract.unit_chunks=1"]
    runs = Path(ws.uri, "stages", "extract", "runs")
    earlier = set(runs.glob("*/units/*.done.json"))  # other tests' runs in this workspace
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 400
    units = None
    while time.time() < deadline:
        done = set(runs.glob("*/units/*.done.json")) - earlier
        if len(done) >= 2:
            units = done
            break
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert units, "no unit finished before the deadline"
    cache = Path(ws.uri, "cache", "llm")
    # a Ray worker of the killed run is not in the driver's process group: a call it had in
    # flight may still land in the cache; count once the cache has stopped changing
    before, still = len(list(cache.rglob("*.json"))), 0
    for _ in range(60):
        time.sleep(1)
        now = len(list(cache.rglob("*.json")))
        still = still + 1 if now == before else 0
        before = now
        if still >= 5:
            break
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads(Path(ws.uri, "stages", "extract", "manifest.json").read_text())
    after = len(list(cache.rglob("*.json")))
    assert m["counters"]["units_reused"] >= 2 and m["counters"]["units_run"] >= 1
    # every call the rerun made produced a new cache entry: nothing cached was sent again
    fresh = m["run_usage"]["calls"] - m["run_usage"]["failed_calls"]
    assert fresh == after - before
    # the manifest counts the killed run's calls too (its finished units' markers), not
    # only the resumed run's (issue 18: 9 of 17 before)
    assert m["usage"]["calls"] > m["run_usage"]["calls"]
