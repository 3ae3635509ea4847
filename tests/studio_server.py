"""A real Studio for tests: `proda studio` as its own process on a loopback port."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

PRODA = str(Path(sys.executable).with_name("proda"))


class Studio:
    def __init__(self, workspace: str, *, token: str | None = "random", host: str = "127.0.0.1",
                 env: dict | None = None, log: Path | None = None, extra: tuple = ()):
        """``token``: the one to require ("random": a fresh one; None: ``--no-token``)."""
        token = secrets.token_urlsafe(16) if token == "random" else token
        self.workspace, self.token, self.host, self.extra = workspace, token, host, list(extra)
        self.port = free_port()
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "",
                    **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def login_url(self) -> str:
        """What `proda studio` prints: opening it sets the browser's session cookie."""
        return f"{self.url}/?token={self.token}" if self.token else f"{self.url}/"

    def start(self, timeout: float = 60) -> Studio:
        cmd = [PRODA, "studio", "-w", self.workspace, "--port", str(self.port),
               "--host", self.host, *(["--token", self.token] if self.token else ["--no-token"]),
               *self.extra]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"proda studio exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/api/session", headers=headers, timeout=2).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError("proda studio did not answer")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @staticmethod
    def post(c: httpx.Client, path: str, body: dict | None = None) -> dict:
        """A POST as the page sends it (the session's CSRF token); it must succeed."""
        csrf = c.get("/api/session").json()["csrf"]
        r = c.post(path, json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        return r.json()

    @staticmethod
    def wait_job(c: httpx.Client, job_id: str, timeout: float = 240) -> dict:
        """The job once it is no longer running (with its log)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = c.get(f"/api/jobs/{job_id}").json()
            if j["state"] != "running":
                return j
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} still running after {timeout} s")

    def __enter__(self) -> Studio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
