"""A workspace on S3 (a real S3 API served by moto on loopback), read and written by Ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from proda_ray.workspace import Workspace
from tests.conftest import SAMPLE_CORPUS


def test_storage_on_s3(s3_endpoint):
    ws = Workspace("s3://proda-test/unit")
    ws.write_json("a/b.json", {"x": 1})
    assert ws.read_json("a/b.json") == {"x": 1}
    assert ws.list_files("a") == ["a/b.json"]


def test_spec_on_s3_workspace_via_cli(s3_endpoint):
    """`AWS_ENDPOINT_URL=… proda spec -w s3://…`: the CLI's own Ray inherits the endpoint.

    (Workers of an already running Ray keep the environment Ray started with, so the test
    runs the CLI in its own process, exactly as a user would.)
    """
    import json

    proda = str(Path(sys.executable).with_name("proda"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    ws = "s3://proda-test/project"
    out = subprocess.run([proda, "spec", "-w", ws, "-c", str(SAMPLE_CORPUS), "-q"], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    st = json.loads(subprocess.run([proda, "status", "-w", ws, "--json"], env=env,
                                   capture_output=True, text=True, timeout=120).stdout)
    spec = st["stages"]["spec"]
    assert spec["tables"]["documents"]["rows"] == 11
    chunks = Workspace(ws).read_parquet(spec["tables"]["chunks"]["path"])
    assert chunks.num_rows == spec["tables"]["chunks"]["rows"] > 0
