"""The closed loop for real: `proda run` on an OpenStax slice with the embedded engine and a
tiny student, two rounds on CPU. The run is SIGKILLed once round 1's debug has committed
(inside round 2's training); the rerun resumes there (every earlier stage up to date) and
writes the report of round 2 vs round 1 on `test` with intervals. The repair data is then
checked by an independent detector (no item-specific text in any training table) and every
patch grounded in real nodes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from proda_ray.workspace import Workspace
from tests.leakage import find_leaks

pytestmark = pytest.mark.slow


def manifest(ws: Workspace, stage: str) -> dict:
    return ws.read_json(f"stages/{stage}/manifest.json")


def table(ws: Workspace, stage: str, name: str) -> list[dict]:
    return ws.read_parquet(manifest(ws, stage)["outputs"][name]["path"]).to_pylist()


def test_two_rounds_killed_and_resumed_with_an_honest_report(two_round_loop):
    ws, out1, out2 = two_round_loop.ws, two_round_loop.out1, two_round_loop.out2
    assert two_round_loop.debug_after_kill, out1[-4000:]
    assert not two_round_loop.eval_r2_after_kill, "killed too late"

    assert two_round_loop.returncode == 0, out2[-4000:]
    for stage in ("spec", "extract", "merge", "bench", "build", "train", "eval", "eval.base",
                  "debug"):
        assert re.search(rf"{re.escape(stage)} up to date", out2), (stage, out2[-3000:])
    assert re.search(r"train\.r2 built", out2) and re.search(r"eval\.r2 built", out2)
    # quiet by default (issue 18): the stages' summaries, not Ray's log lines, which go to
    # the workspace's logs/ (before: hundreds of "Total Progress" and INFO lines)
    lines = [ln for ln in out2.splitlines() if ln.strip()]
    assert len(lines) < 60 and not any(" INFO " in ln or "core_worker" in ln for ln in lines), \
        out2[-4000:]
    assert list(Path(ws.uri, "logs").glob("run-*.log"))
    # nothing re-spent: extraction tokens were all paid in the first run
    assert manifest(ws, "extract")["usage"]["calls"] > 0

    # the report: round 2 vs round 1 on test, with intervals, whatever the numbers are
    rep = json.loads(ws.read_bytes("reports/report.json"))
    assert [r["round"] for r in rep["rounds"]] == [1, 2] and rep["reference"]
    cmp = rep["comparisons"][0]
    assert cmp["from"] == 1 and cmp["to"] == 2 and "test" in cmp
    lo, hi = cmp["test"]["diff_ci"]
    assert lo <= cmp["test"]["diff"] <= hi
    md = ws.read_bytes("reports/report.md").decode()
    assert "Round 2 vs round 1" in md and "| test |" in md
    # the control arm: a blind student of round 2, compared with the targeted one
    assert re.search(r"train\.r2\.blind built", out2) and re.search(r"eval\.r2\.blind built",
                                                                     out2)
    ctrl = rep["control"][0]
    assert ctrl["round"] == 2 and "test" in ctrl["vs_targeted"]
    x = ctrl["vs_targeted"]["test"]
    assert x["diff_ci"][0] <= x["diff"] <= x["diff_ci"][1] and x["detectable"] > 0
    assert "Round 2: targeted vs blind control" in md
    assert ws.exists("reports", "loss.png") and ws.exists("reports", "accuracy_by_discipline.png")

    # the debugger saw dev only, and the repair data never carries benchmark text or answers
    items = table(ws, "bench", "bench_items")
    dev = {i["item_id"] for i in items if i["split"] == "dev"}
    diags = table(ws, "debug", "diagnoses")
    assert diags and {d["item_id"] for d in diags} <= dev
    assert {d["label"] for d in diags} <= {"concept_gap", "chain_break", "unknown"}
    assert all(json.loads(d["evidence_json"])["rule"] for d in diags)
    v2 = table(ws, "debug", "sft_samples.r2")
    patch_rows = [s for s in v2 if s["generator"] == "patch"]
    assert patch_rows and {s["dataset"] for s in v2} == {"sft_v2"}
    # the independent detector (shares no code with the filter) over every training table
    corpus_text = [c["text"] for c in table(ws, "spec", "chunks")]
    train_rows = [{"id": s["sample_id"], "prompt": s["prompt"], "response": s["response"]}
                  for t in ("sft_samples", "sft_samples.r2", "sft_samples.r2.blind")
                  for s in table(ws, "build" if t == "sft_samples" else "debug", t)]
    blind = table(ws, "debug", "sft_samples.r2.blind")
    assert {s["dataset"] for s in blind} == {"sft_v2_blind"}
    # as many new samples as the targeted arm kept (fewer only if the core runs out of
    # clean nodes; the debug report counts both), and the same replay
    assert 0 < sum(s["generator"] == "patch" for s in blind) <= len(patch_rows)
    assert ({s["sample_id"] for s in blind if s["generator"] == "replay"}
            == {s["sample_id"] for s in v2 if s["generator"] == "replay"})
    assert len(train_rows) > len(patch_rows)
    assert find_leaks(items, train_rows, corpus_text) == []
    stmts = {s["statement_id"]: s for s in table(ws, "merge", "statements")}
    concepts = {c["concept_id"] for c in table(ws, "merge", "concepts")}
    manifest_rows = {p["sample_id"]: p for p in table(ws, "debug", "patches")}
    for s in patch_rows:
        assert s["statement_ids"] and all(stmts[x]["source_quote"] for x in s["statement_ids"])
        assert set(s["concept_ids"] or []) <= concepts
        links = manifest_rows[s["sample_id"]]
        assert set(links["failed_item_ids"]) <= dev and links["node_ids"]
