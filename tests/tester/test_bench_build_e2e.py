"""Tester + Builder end to end on a real knowledge core (sample corpus, embedded Gemma 3
270M through llama.cpp, real Ray): bench, build, status, exports, lm-eval, and leakage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import stage_table
from tests.leakage import find_leaks

pytestmark = pytest.mark.slow
PRODA = str(Path(sys.executable).with_name("proda"))


def test_bench_items_are_linked_gated_and_split(loop_ws):
    ws, m, _ = loop_ws
    items = stage_table(ws, "bench", "bench_items")
    assert items.height == m.counters["items"] > 0
    chains = stage_table(ws, "merge", "chains")
    stmts = stage_table(ws, "merge", "statements")
    concepts = stage_table(ws, "merge", "concepts")
    assert set(items["chain_id"].drop_nulls()) <= set(chains["chain_id"])
    assert set(items["statement_ids"].explode().drop_nulls()) <= set(stmts["statement_id"])
    assert set(items["concept_ids"].explode().drop_nulls()) <= set(concepts["concept_id"])
    chunks = stage_table(ws, "spec", "chunks")
    for it in items.iter_rows(named=True):
        assert len(it["options"]) == 4 and re.fullmatch(r"A?B?C?D?", it["answer"])
        if it["split"] == "reference":  # the authors' own exercises: no knowledge nodes
            assert it["chunk_id"] is None and it["chain_id"] is None
            continue
        assert 8 <= len(it["question"].split()) <= 100
        assert it["level"] in ("L1", "L2", "L3")
        assert it["chunk_id"] in set(chunks["chunk_id"])
        if it["chain_id"] is not None:  # an L3 item lives where its chain does
            chain = chains.filter(pl.col("chain_id") == it["chain_id"]).row(0, named=True)
            assert (it["chunk_id"], it["doc_id"]) == (chain["chunk_id"], chain["doc_id"])
        else:  # an L1/L2 item names the nodes it tests
            assert it["statement_ids"] or it["concept_ids"]
    # transfer holds whole documents out; a test item asks about a node a dev item asks about
    rows = [i for i in items.iter_rows(named=True) if i["split"] != "reference"]
    for doc in {i["doc_id"] for i in rows}:
        assert len({i["split"] == "transfer" for i in rows if i["doc_id"] == doc}) == 1

    def node(i):
        return i["concept_ids"][0] if i["level"] == "L1" else i["chain_id"] or i["item_id"]

    dev_nodes = {node(i) for i in rows if i["split"] == "dev"}
    assert all(node(i) in dev_nodes for i in rows if i["split"] == "test")
    assert m.report["splits"] == dict(items["split"].value_counts().iter_rows())
    # every rejection counted with a reason, and written down
    rejected = stage_table(ws, "bench", "bench_items.rejected")
    assert rejected.height == sum(m.rejected.get("bench_items.rejected", {}).values())
    assert rejected["reason"].null_count() == 0


def test_no_test_item_text_reaches_training_data(loop_ws):
    """The leakage test, with a detector that shares no code with the filter: no item's
    question, option set, item-specific 8-gram or paraphrased (question, key) in any
    training row; training rows link to statements only."""
    ws, _, m = loop_ws
    items = stage_table(ws, "bench", "bench_items")
    samples = stage_table(ws, "build", "sft_samples")
    assert samples.height > 0
    rows = [{"id": r["sample_id"], "prompt": r["prompt"], "response": r["response"]}
            for r in samples.iter_rows(named=True)]
    corpus_text = list(stage_table(ws, "spec", "chunks")["text"])
    assert find_leaks(list(items.iter_rows(named=True)), rows, corpus_text) == []
    stmts = set(stage_table(ws, "merge", "statements")["statement_id"])
    assert set(samples["statement_ids"].explode()) <= stmts
    assert m.report["decontamination"]["checked"] == m.counters["generated"]
    assert 0 < m.report["coverage"]["statements"] <= 1


def test_status_exports_lm_eval_and_llama_factory_format(loop_ws, tmp_path):
    ws, bench_m, build_m = loop_ws
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    st = json.loads(subprocess.run([PRODA, "status", "-w", ws.uri, "--json"], env=env,
                                   capture_output=True, text=True, check=True).stdout)
    assert st["stages"]["bench"]["report"]["splits"]
    val = st["stages"]["bench"]["report"]["validity"]
    assert set(val["types"]) == set(st["stages"]["bench"]["report"]["by_type"])
    assert all(0 <= t["prior"]["accuracy"] <= 1 and t["solvers"] for t in val["types"].values())
    human = subprocess.run([PRODA, "status", "-w", ws.uri], env=env, capture_output=True,
                           text=True, check=True).stdout
    assert "bench validity" in human and "form-solvable" in human
    assert st["stages"]["build"]["report"]["by_type"]
    assert "decontamination" in st["stages"]["build"]["report"]
    out = subprocess.run([PRODA, "export", "-w", ws.uri], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    root = Path(ws.uri) / "exports"
    # ShareGPT as LLaMA-Factory documents it, registered in dataset_info.json
    sft = root / "sft" / "sft_v1"
    info = json.loads((sft / "dataset_info.json").read_text())
    entry = info["sft_v1_sharegpt"]
    assert entry["formatting"] == "sharegpt" and (sft / entry["file_name"]).exists()
    tags = entry["tags"]
    data = json.loads((sft / entry["file_name"]).read_text())
    assert len(data) == build_m.counters["samples"]
    for rec in data:
        turns = rec[entry["columns"]["messages"]]
        assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
        assert all(isinstance(t[tags["content_tag"]], str) and t[tags["content_tag"]]
                   for t in turns)
    alpaca = json.loads((sft / "alpaca.json").read_text())
    assert all(set(r) == {"instruction", "input", "output"} for r in alpaca)
    # the lm-eval task loads in lm-evaluation-harness and runs against a tiny local model
    from proda_ray.engines.models import tiny_causal_lm

    model = tiny_causal_lm(tmp_path / "tiny", ["The water cycle moves water."] * 20)
    splits = bench_m.report["splits"]
    tasks = [f"proda_bench_{s}" for s in ("dev", "test") if splits.get(s)]
    assert tasks
    script = (
        "import lm_eval, json, sys\n"
        "from lm_eval.tasks import TaskManager\n"
        f"tm = TaskManager(include_path={str(root / 'bench' / 'lm_eval')!r})\n"
        "r = lm_eval.simple_evaluate(model='hf', model_args="
        f"'pretrained={model},dtype=float32', tasks={tasks!r},"
        " task_manager=tm, device='cpu', batch_size=4, limit=4)\n"
        "print(json.dumps({k: v.get('acc,none') for k, v in r['results'].items()}))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**env, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    accs = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(accs) == set(tasks)
    assert all(0 <= a <= 1 for a in accs.values())
    oc = json.loads((root / "bench" / "opencompass" / f"{tasks[0]}.json").read_text())
    assert all({"question", "A", "B", "C", "D", "answer"} <= set(r) for r in oc)


def test_loop_job_entrypoint_sees_the_stages_up_to_date(loop_ws):
    ws, _, _ = loop_ws
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    out = subprocess.run([sys.executable, "jobs/loop.py", "--workspace", ws.uri,
                          "--stages", "merge,bench,build", "--set", "bench.test_fraction=0.4"],
                         env=env, capture_output=True,
                         text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    assert [(x["stage"], x["status"]) for x in lines] == [
        ("merge", "up-to-date"), ("bench", "up-to-date"), ("build", "up-to-date")]
