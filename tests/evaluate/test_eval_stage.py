"""The eval stage for real: a served model over HTTP (llama.cpp's OpenAI-compatible server
with the bundled Gemma GGUF) answers every benchmark item; a rerun is free (response cache);
tables and report hold together."""

from __future__ import annotations

import shutil

import pytest

from proda_ray.engines.base import OpenAIEngineConfig
from proda_ray.evaluate.config import EvalConfig
from proda_ray.evaluate.stage import EvalStage
from proda_ray.workspace import Workspace, run_stage

pytestmark = pytest.mark.slow


def test_served_model_evaluated_through_the_openai_engine(loop_ws, llama_server, tmp_path):
    src, bench, _ = loop_ws
    shutil.copytree(src.uri, tmp_path / "ws")
    ws = Workspace(tmp_path / "ws")
    cfg = EvalConfig(model="engine", engine=OpenAIEngineConfig(
        base_url=llama_server.base_url, endpoint="completions", concurrency=2), unit_items=8)
    r = run_stage(ws, EvalStage(cfg, label="served"), show_progress=False)
    m = r.manifest
    rep = m.report
    n = bench.counters["items"]
    preds = ws.read_parquet(m.outputs["predictions.served"].path).to_pylist()
    items = ws.read_parquet(bench.outputs["bench_items"].path).to_pylist()
    assert len(preds) == n and {p["split"] for p in preds} == {i["split"] for i in items}
    assert all(p["raw_output"] is not None and p["error"] is None for p in preds)
    assert m.usage.calls == n and m.usage.prompt_tokens > 0
    for split, o in rep["overall"].items():
        assert o["ci"][0] <= o["accuracy"] <= o["ci"][1]
        p = o["prior"]  # the answer-pattern prior beside every accuracy
        assert 0 < p["accuracy"] <= 1 and p["ci"][0] <= p["accuracy"] <= p["ci"][1]
        assert o["items"] == sum(1 for p in preds if p["split"] == split)
    assert sum(rep["parse_status"].values()) == n
    nodes = ws.read_parquet(m.outputs["node_accuracy.served"].path).to_pylist()
    # every kind of node the items link to gets its accuracy row (the knowledge core keeps
    # only real nodes, so a small sample's items need not link concepts)
    linked = {"chain" for i in items if i["chain_id"]} | {
        "statement" for i in items if i["statement_ids"]} | {
        "concept" for i in items if i["concept_ids"]}
    assert {x["node_kind"] for x in nodes} == linked and linked
    chains = [x for x in nodes if x["node_kind"] == "chain"]
    # every L3 item counts once toward its chain
    assert sum(x["items"] for x in chains) == sum(1 for i in items if i["chain_id"])
    dev = [i for i in items if i["split"] == "dev"]
    levels = {"L3" for i in dev if i["chain_id"]} | {"L2" for i in dev if i["statement_ids"]} | {
        "L1" for i in dev if i["concept_ids"]}
    assert set(rep["by_level"]["dev"]) == {"L1", "L2", "L3"}
    assert {lvl for lvl, v in rep["by_level"]["dev"].items() if v["nodes"]} == levels

    again = run_stage(ws, EvalStage(cfg, label="served"), show_progress=False, force=True)
    assert again.manifest.usage.cached_calls == n and again.manifest.usage.calls == 0
    assert again.manifest.report["overall"] == rep["overall"]
