"""Build-system semantics of the stage runner, on a real two-stage pipeline."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pytest
from pydantic import BaseModel

from proda_ray.workspace import Stage, StageContext, StageResult, Workspace, run_stage
from proda_ray.workspace.runner import stage_status


class MakeConfig(BaseModel):
    n: int = 3


class MakeNumbers(Stage[MakeConfig]):
    name = "make"
    config_model = MakeConfig
    outputs = ("numbers",)
    calls: ClassVar[list[int]] = []

    def run(self, ctx: StageContext) -> StageResult:
        MakeNumbers.calls.append(self.config.n)
        ctx.write_table("numbers", pa.table({"x": list(range(self.config.n))}))
        res = StageResult()
        res.outputs["numbers"] = ctx.table_info("numbers")
        res.rejected["numbers.rejected"]["odd"] += 1
        return res


class SumConfig(BaseModel):
    scale: int = 1


class SumNumbers(Stage[SumConfig]):
    name = "sum"
    config_model = SumConfig
    inputs = ("numbers",)
    outputs = ("total",)

    def run(self, ctx: StageContext) -> StageResult:
        producer = ctx.workspace.read_json("stages/make/manifest.json")
        x = ctx.workspace.read_parquet(producer["outputs"]["numbers"]["path"]).column("x")
        ctx.write_table("total", pa.table({"s": [sum(x.to_pylist()) * self.config.scale]}))
        res = StageResult()
        res.outputs["total"] = ctx.table_info("total")
        return res


@pytest.fixture(params=["local", "memory"])
def ws(request, tmp_path):
    if request.param == "local":
        return Workspace(tmp_path / "ws")
    return Workspace(f"memory://proda-test-{tmp_path.name}")


def test_noop_rebuild_restore_and_staleness(ws):
    MakeNumbers.calls.clear()
    first = run_stage(ws, MakeNumbers(MakeConfig(n=3)))
    assert first.status == "built" and first.manifest.outputs["numbers"].rows == 3
    assert first.manifest.rejected == {"numbers.rejected": {"odd": 1}}
    assert run_stage(ws, MakeNumbers(MakeConfig(n=3))).status == "up-to-date"
    assert MakeNumbers.calls == [3]

    s1 = run_stage(ws, SumNumbers(SumConfig()))
    assert s1.status == "built"
    assert ws.read_parquet(s1.manifest.outputs["total"].path).column("s").to_pylist() == [3]

    # changing the upstream config rebuilds it and makes the downstream stage stale...
    assert run_stage(ws, MakeNumbers(MakeConfig(n=5))).status == "built"
    st = stage_status(ws)
    assert st["make"]["state"] == "fresh" and st["sum"]["state"] == "stale"
    assert st["sum"]["stale_inputs"] == ["table:numbers"]
    # ...which rebuilds on its next run, from the new table
    s2 = run_stage(ws, SumNumbers(SumConfig()))
    assert s2.status == "built" and s2.manifest.fingerprint != s1.manifest.fingerprint
    assert ws.read_parquet(s2.manifest.outputs["total"].path).column("s").to_pylist() == [10]
    assert stage_status(ws)["sum"]["state"] == "fresh"

    # reverting the config restores the earlier run without recomputing it
    restored = run_stage(ws, MakeNumbers(MakeConfig(n=3)))
    assert restored.status == "restored" and MakeNumbers.calls == [3, 5]
    assert restored.manifest.fingerprint == first.manifest.fingerprint
    # and force always rebuilds
    assert run_stage(ws, MakeNumbers(MakeConfig(n=3)), force=True).status == "built"
    assert MakeNumbers.calls == [3, 5, 3]


def test_missing_input_is_a_clear_error(ws):
    with pytest.raises(RuntimeError, match="run the upstream stage first"):
        run_stage(ws, SumNumbers(SumConfig()))


def test_storage_roundtrip_and_atomic_writes(ws):
    ws.write_json("a/b.json", {"k": [1, 2]})
    assert ws.read_json("a/b.json") == {"k": [1, 2]}
    t = pa.table({"id": ["x", "y"], "v": [1, 2]})
    ws.write_parquet("t/part-1.parquet", t)
    ws.write_parquet("t/part-2.parquet", t)
    assert ws.read_parquet("t").num_rows == 4 and ws.count_rows("t") == 4
    assert ws.list_files("t") == ["t/part-1.parquet", "t/part-2.parquet"]  # no temp files left
    assert sum(b.num_rows for b in ws.iter_parquet_batches("t", batch_size=1)) == 4
    ws.delete("t")
    assert not ws.exists("t")


def test_workspace_pickles_by_uri(tmp_path):
    import pickle

    ws = Workspace(tmp_path)
    _ = ws.fs  # opened filesystem must not travel
    assert pickle.loads(pickle.dumps(ws)).uri == ws.uri


def test_parquet_writers_commit_all_or_nothing(ws):
    schema = pa.schema([("x", pa.int64())])
    targets = {"a": ("w/a.parquet", schema), "b": ("w/b.parquet", schema)}
    with ws.parquet_writers(targets) as write:
        for i in range(3):
            write({"a": pa.table({"x": [i, i]})})
    assert ws.read_parquet("w/a.parquet").num_rows == 6
    assert ws.read_parquet("w/b.parquet").num_rows == 0  # empty, but present
    with pytest.raises(RuntimeError), ws.parquet_writers({"c": ("w/c.parquet", schema)}) as write:
        write({"c": pa.table({"x": [1]})})
        raise RuntimeError("crash mid-shard")
    assert not ws.exists("w/c.parquet")
    assert ws.list_files("w") == ["w/a.parquet", "w/b.parquet"]


def test_a_guard_that_raises_leaves_the_stage_uncommitted(ws):
    """The CLI's lease guard: a run that lost its workspace commits nothing more."""
    def lost() -> None:
        raise RuntimeError("lost the workspace")

    with pytest.raises(RuntimeError, match="lost the workspace"):
        run_stage(ws, MakeNumbers(MakeConfig(n=2)), guard=lost)
    assert not ws.exists("stages/make/manifest.json")
    assert run_stage(ws, MakeNumbers(MakeConfig(n=2))).status == "built"  # and a rerun does
