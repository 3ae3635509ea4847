"""Shared fixtures: one real local Ray per test session (starting Ray costs 2-4 s)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "examples" / "sample_corpus"
OPENSTAX = REPO.parent / "shared" / "corpora" / "openstax"


@pytest.fixture(scope="session")
def ray_local():
    """A real single-node Ray with 2 CPUs, shared by the whole session."""
    import ray

    from proda_ray.runtime import ensure_ray

    ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def loop_ws(ray_local, tmp_path_factory):
    """A workspace through spec -> extract -> merge -> bench -> build on the sample corpus
    with the real embedded model (about 4 min on 2 cores), shared by the tests of the later
    stages. Returns (workspace, bench manifest, build manifest)."""
    pytest.importorskip("llama_cpp", reason="needs the local extra")
    from proda_ray.builder.config import BuildConfig
    from proda_ray.builder.stage import BuildStage
    from proda_ray.knowledge.config import ExtractConfig, MergeConfig
    from proda_ray.knowledge.merge_stage import MergeStage
    from proda_ray.knowledge.stage import ExtractStage
    from proda_ray.spec.config import SpecConfig
    from proda_ray.spec.stage import SpecStage
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import Workspace, run_stage

    ws = Workspace(tmp_path_factory.mktemp("loop"))
    spec = SpecConfig(corpus=[str(SAMPLE_CORPUS)])
    spec.chunk.max_tokens = 256
    spec.chunk.overlap_tokens = 16
    run_stage(ws, SpecStage(spec), show_progress=False)
    # every chunk: the sample's processes are few, and the benchmark is compiled from them
    run_stage(ws, ExtractStage(ExtractConfig(), workers=2), show_progress=False)
    run_stage(ws, MergeStage(MergeConfig()), show_progress=False)
    bench = run_stage(ws, BenchStage(BenchConfig(test_fraction=0.4)), show_progress=False)
    build = run_stage(ws, BuildStage(BuildConfig()), show_progress=False)
    return ws, bench.manifest, build.manifest


@pytest.fixture
def openstax() -> Path:
    if not OPENSTAX.exists():
        pytest.skip(f"OpenStax corpus not found at {OPENSTAX}")
    return OPENSTAX


def openstax_texts(limit: int | None = None, book: str = "001_physics") -> list[str]:
    """Document texts from one OpenStax book (for property tests on real text)."""
    import gzip
    import json

    path = OPENSTAX / f"{book}.jsonl.gz"
    if not path.exists():
        return []
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            out.append(json.loads(line)["text"])
            if limit and len(out) >= limit:
                break
    return out


def stage_table(ws, stage: str, name: str):
    """Output table ``name`` of ``stage`` in workspace ``ws``, as read from its manifest (a
    polars DataFrame)."""
    import polars as pl

    m = ws.read_json(f"stages/{stage}/manifest.json")
    return pl.from_arrow(ws.read_parquet(m["outputs"][name]["path"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API (moto's server) on loopback, with a `proda-test` bucket; the AWS_* env
    points there while the module runs (processes started meanwhile inherit it)."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        import pyarrow.fs as pafs

        pafs.S3FileSystem(endpoint_override=endpoint, scheme="http",
                          allow_bucket_creation=True).create_dir("proda-test")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- a real llama.cpp OpenAI-compatible server on loopback, serving the bundled Gemma GGUF


@pytest.fixture(scope="session")
def gguf() -> str:
    pytest.importorskip("llama_cpp", reason="needs the local extra (llama-cpp-python)")
    from proda_ray.engines.models import bundled_gemma_gguf

    return str(bundled_gemma_gguf())


class LlamaServer:
    def __init__(self, model: str, port: int):
        self.model, self.port, self.proc = model, port, None
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def start(self, wait: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", self.model, "--host",
             "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("llama.cpp server did not come up")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def llama_server(gguf):
    server = LlamaServer(gguf, free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def two_round_loop(tmp_path_factory):
    """`proda run` for two rounds on an OpenStax slice, killed once and resumed (about
    8 min): checked by the loop test, looked at by the Studio's browser test."""
    from tests.loop_run import run_two_rounds

    return run_two_rounds(tmp_path_factory.mktemp("two-rounds"))
