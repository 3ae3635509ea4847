"""A real llama.cpp OpenAI-compatible server on loopback, serving the bundled Gemma GGUF."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
