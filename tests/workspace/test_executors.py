"""Executors: the same stage under Ray and in-process; resumption by done markers; stage
packages free of Ray; code versions that follow real imports."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pytest
from pydantic import BaseModel

from proda_ray.executors import LocalExecutor, RayExecutor, UnitWorker
from proda_ray.workspace import Stage, StageContext, StageResult, Tally, Workspace, run_stage
from tests.conftest import REPO, SAMPLE_CORPUS


def _example():
    spec = importlib.util.spec_from_file_location("vocabulary_stage",
                                                  REPO / "examples" / "vocabulary_stage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _NoConfig(BaseModel):
    version: int = 1


TEXTS = {"Biology": ["Mitochondria produce adenosine triphosphate through respiration",
                     "Respiration consumes oxygen; mitochondria respiration continues"],
         "Physics": ["Acceleration measures velocity change", "Momentum conservation holds",
                     "Acceleration requires unbalanced forces acting"]}


class _Chunks(Stage[_NoConfig]):
    """Writes a small ``chunks`` table (only the columns the example reads)."""

    name, config_model, outputs = "chunks_fixture", _NoConfig, ("chunks",)

    def run(self, ctx: StageContext) -> StageResult:
        rows = [{"discipline": d, "text": t} for d, ts in TEXTS.items() for t in ts]
        ctx.write_table("chunks", pa.Table.from_pylist(rows))
        res = StageResult()
        res.outputs["chunks"] = ctx.table_info("chunks")
        return res


def _vocabulary(ws: Workspace, executor) -> tuple[list[dict], object]:
    ex = _example()
    run_stage(ws, _Chunks(_NoConfig()), executor=executor, show_progress=False)
    r = run_stage(ws, ex.VocabularyStage(ex.VocabularyConfig(top=3)), executor=executor,
                  show_progress=False)
    rows = sorted(ws.read_parquet(r.manifest.outputs["vocabulary"].path).to_pylist(),
                  key=lambda x: (x["discipline"], x["word"]))
    return rows, r


def test_worked_example_runs_under_both_executors(ray_local, tmp_path):
    local_rows, local = _vocabulary(Workspace(tmp_path / "local"), LocalExecutor())
    ray_rows, on_ray = _vocabulary(Workspace(tmp_path / "ray"), RayExecutor())
    assert local_rows == ray_rows
    assert {"discipline": "Biology", "word": "respiration", "count": 3} in local_rows
    assert {"discipline": "Physics", "word": "acceleration", "count": 2} in local_rows
    assert local.manifest.counters == on_ray.manifest.counters == {"words": 19}
    assert local.manifest.cluster["executor"] == "local"
    assert on_ray.manifest.cluster["executor"] == "ray" and on_ray.manifest.cluster["cpus"] >= 1
    # same stage, same code, same inputs: the executor is not part of the fingerprint
    assert local.manifest.fingerprint == on_ray.manifest.fingerprint
    again = run_stage(Workspace(tmp_path / "local"), _example().VocabularyStage(
        _example().VocabularyConfig(top=3)), executor=LocalExecutor(), show_progress=False)
    assert again.status == "up-to-date"


class _Flaky(UnitWorker):
    """Fails on unit ``u2`` while ``fail`` exists in the workspace; logs what it ran."""

    def setup(self, ws: Workspace) -> None:
        self.ws = ws

    def process(self, unit: dict) -> Tally:
        if unit["key"] == "u2" and self.ws.exists("fail"):
            raise RuntimeError("injected failure")
        self.ws.write_json(f"ran/{unit['key']}-{len(self.ws.list_files('ran'))}.json", {})
        t = Tally(counters={"n": int(unit["key"][1:])})
        t.reject("things.rejected", "odd") if int(unit["key"][1:]) % 2 else None
        return t


def test_a_failed_run_resumes_with_the_unfinished_units_only(tmp_path):
    ws = Workspace(tmp_path)
    ws.write_json("fail", {})
    units = [{"key": f"u{i}"} for i in range(4)]
    ex = LocalExecutor()
    with pytest.raises(RuntimeError, match="injected"):
        ex.map_units(ws, "scratch/units", units, _Flaky, (ws,))
    assert sorted(f.split("/")[-1] for f in ws.list_files("scratch/units")) == \
        ["u0.done.json", "u1.done.json"]
    ws.delete("fail")
    run = ex.map_units(ws, "scratch/units", units, _Flaky, (ws,))
    assert run.ran == ["u2", "u3"]
    assert run.totals.counters == {"n": 0 + 1 + 2 + 3}
    assert run.ran_totals.counters == {"n": 2 + 3}
    assert run.totals.rejected == {"things.rejected": {"odd": 2}}
    assert len(ws.list_files("ran")) == 4  # no unit ran twice
    assert ex.map_units(ws, "scratch/units", units, _Flaky, (ws,)).ran == []


def test_spec_stage_in_process_matches_ray(ray_local, tmp_path):
    from proda_ray.spec.config import SpecConfig
    from proda_ray.spec.stage import SpecStage

    cfg = SpecConfig(corpus=[str(SAMPLE_CORPUS)])
    out = {}
    for name, executor in (("local", LocalExecutor()), ("ray", RayExecutor())):
        ws = Workspace(tmp_path / name)
        m = run_stage(ws, SpecStage(cfg), executor=executor, show_progress=False).manifest
        chunks = ws.read_parquet(m.outputs["chunks"].path, ["chunk_id"]).column(0).to_pylist()
        counters = {k: v for k, v in m.counters.items() if k != "workers"}
        out[name] = (counters, m.rejected, sorted(chunks), m.fingerprint)
    assert out["local"] == out["ray"]
    assert out["local"][0]["documents"] == 11


STAGE_PACKAGES = ("spec", "knowledge", "tester", "builder", "compile", "evaluate", "debugger")
RAY_TRAIN_IS_THE_API = {"compile/stage.py", "compile/report.py"}  # TorchTrainer, train.report
RAY_DATA_IS_THE_API = {"spec/dedup_ray.py"}  # groupby and join across the cluster


def test_no_stage_package_imports_ray():
    found = set()
    for pkg in STAGE_PACKAGES:
        for path in sorted((REPO / "proda_ray" / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(n == "ray" or n.startswith("ray.") for n in names):
                    found.add(str(path.relative_to(REPO / "proda_ray")))
    assert found == RAY_TRAIN_IS_THE_API | RAY_DATA_IS_THE_API
    # and there, only Ray Train / only Ray Data: no tasks, actors or cluster calls
    for rel in RAY_TRAIN_IS_THE_API | RAY_DATA_IS_THE_API:
        src = (REPO / "proda_ray" / rel).read_text()
        assert "ray.remote" not in src and "ray.get(" not in src and "ray.init" not in src
        assert ("ray.data" in src) == (rel in RAY_DATA_IS_THE_API)
    # a stage asks its context whether Ray Data is there; only the Ray executor says yes
    assert RayExecutor.ray_data and not LocalExecutor.ray_data


VERSIONS = """
import json, sys
import proda_ray
from proda_ray.workspace.fingerprint import closure_fingerprint
assert proda_ray.__file__.startswith(sys.argv[1]), proda_ray.__file__
mods = {"spec": "proda_ray.spec.stage", "extract": "proda_ray.knowledge.stage",
        "eval": "proda_ray.evaluate.stage", "debug": "proda_ray.debugger.stage"}
print(json.dumps({k: closure_fingerprint(m) for k, m in mods.items()}))
"""


def test_code_version_follows_the_stage_imports(tmp_path):
    """Edit (in a copy) modules a stage imports — directly, through another module, inside a
    function, or a bundled prompt — and only the stages that import them change version."""
    root = tmp_path / "src"
    shutil.copytree(REPO / "proda_ray", root / "proda_ray",
                    ignore=shutil.ignore_patterns("__pycache__"))

    def versions() -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", VERSIONS, str(root)], env=env, check=True,
                             capture_output=True, text=True, cwd=tmp_path)
        return json.loads(out.stdout)

    def touch(rel: str) -> None:
        p = root / "proda_ray" / rel
        p.write_text(p.read_text() + "\n# edited\n")

    v0 = versions()
    touch("engines/transformers.py")  # reached from eval through engines.base.build_engine
    v1 = versions()
    assert v1["eval"] != v0["eval"] and v1["debug"] != v0["debug"]
    touch("debugger/patches.py")  # the debugger's own module; nobody else imports it
    v2 = versions()
    assert v2["debug"] != v1["debug"]
    assert {k: v2[k] for k in ("spec", "extract", "eval")} == \
        {k: v1[k] for k in ("spec", "extract", "eval")}
    touch("knowledge/prompts/l3_chains.txt")  # a prompt, read with importlib.resources
    v3 = versions()
    assert v3["extract"] != v2["extract"] and v3["spec"] == v2["spec"]
    touch("workspace/storage.py")  # the framework: where things run, not what they compute
    assert versions() == v3
    touch("workspace/rejections.py")  # but the rejected tables' rows are the stages' output
    assert versions()["spec"] != v3["spec"]
