"""Durable jobs: what the Studio starts when a user runs a stage or the next cycle.

A job is a ``proda`` command, never a thread of the server. Its record (``job.json``) and log
live under ``studio/jobs/<id>/`` in the workspace (a local cache directory for an
object-store workspace), so a restarted Studio finds every job again, running or finished.

- ``LocalJobs``: a supervisor process (``python -m proda_ray.studio.jobs <dir>``) in its own
  session runs the command, appends its output to ``log.txt`` and writes ``result.json``
  (return code, end time) when it exits. It outlives the server. Cancel sends SIGTERM to the
  job's process group (the command and the local Ray it started), SIGKILL after a grace.
- ``RayJobs`` (``--ray-address http://HEAD:8265``): the same command submitted through Ray's
  job API to the cluster; state, logs and cancel come from Ray.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from proda_ray.procs import alive, start_time, stat
from proda_ray.workspace import Workspace

GRACE_S = 10.0
LOG_TAIL = 64_000
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)
_STAGE = re.compile(r"^(?P<kind>spec|extract|merge|bench|build|train|eval|debug)"
                    r"(?:\.r(?P<round>\d+))?(?:\.(?P<tag>[a-z]+))?$")


class JobError(ValueError):
    """A job request that cannot be carried out (unknown stage, unknown job): one line."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stage_command(stage: str, force: bool = False, rounds: int | None = None) -> list[str]:
    """The ``proda`` arguments that (re)build ``stage`` (``run``: the loop, ``rounds`` of it)."""
    if stage == "run":  # the loop: every stage skipped when up to date (no --force)
        return ["run", "--rounds", str(rounds or 1), "-q"]
    m = _STAGE.match(stage)
    if not m:
        raise JobError(f"unknown stage {stage!r}")
    kind, rnd, tag = m["kind"], int(m["round"] or 1), m["tag"]
    blind = tag == "blind" and kind in ("train", "eval") and rnd > 1
    reference = tag == "base" and kind == "eval" and rnd == 1
    if (tag and not (blind or reference)) or (rnd > 1 and kind not in ("train", "eval",
                                                                       "debug")):
        raise JobError(f"unknown stage {stage!r}")
    if kind == "merge":
        if force:  # `proda extract --force` would redo every LLM call as well
            raise JobError("merge is built by `proda extract`: force extract instead")
        kind = "extract"
    args = [kind]
    if rnd > 1:
        args += ["--round", str(rnd)]
    if blind:
        args += ["--arm", "blind"]
    if reference:  # the round-1 base model, whatever eval.model says (as `proda run` does)
        args += ["--label", "base", "--model", "base"]
    return [*args, "-q", *(["--force"] if force else [])]


def mask_secrets(text: str, env: dict[str, str] | None = None) -> str:
    """``text`` with the value of every secret-looking environment variable masked."""
    for k, v in (env if env is not None else os.environ).items():
        if _SECRET_ENV.search(k) and v and len(v) >= 6:
            text = text.replace(v, "[redacted]")
    return text


def jobs_dir(ws: Workspace) -> Path:
    if ws.is_local:
        return Path(ws.path("studio", "jobs"))
    base = Path(os.environ.get("PRODA_CACHE_DIR", Path.home() / ".cache" / "proda-ray"))
    return base / "studio" / hashlib.sha256(ws.uri.encode()).hexdigest()[:16] / "jobs"


class LocalJobs:
    """Jobs as supervised local processes (the laptop / single-node dev mode)."""

    backend = "local"

    def __init__(self, ws: Workspace, proda: str | None = None):
        self.ws = ws
        self.root = jobs_dir(ws)
        self.proda = proda or str(Path(sys.executable).with_name("proda"))
        self._lock = threading.Lock()

    # --- records -----------------------------------------------------------------------------

    def _dir(self, job_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{12}", job_id or ""):
            raise JobError(f"no job {job_id!r}")
        return self.root / job_id

    def _record(self, job_id: str) -> dict:
        d = self._dir(job_id)
        try:
            rec = json.loads((d / "job.json").read_text())
        except (OSError, ValueError):
            raise JobError(f"no job {job_id!r}") from None
        result = d / "result.json"
        if result.exists():
            with contextlib.suppress(OSError, ValueError):
                rec.update(json.loads(result.read_text()))
        rec["state"] = self._state(rec)
        rec["backend"] = self.backend
        return rec

    def _state(self, rec: dict) -> str:
        pid = rec.get("pid")
        if "returncode" in rec:
            if rec["returncode"] == 0:  # done before a cancel could land
                return "succeeded"
            return "cancelled" if rec.get("cancel_requested") else "failed"
        # the supervisor, or (if it died) the command it started, still in its group
        if alive(pid, rec.get("pid_started")) or (pid and _group_alive(pid)):
            return "running"
        return "cancelled" if rec.get("cancel_requested") else "failed"

    def _write(self, job_id: str, rec: dict) -> None:
        d = self._dir(job_id)
        tmp = d / f".job-{uuid.uuid4().hex}"
        tmp.write_text(json.dumps({k: v for k, v in rec.items()
                                   if k not in ("state", "backend", "returncode", "ended_at")},
                                  indent=2))
        tmp.replace(d / "job.json")

    def list(self) -> list[dict]:
        if not self.root.exists():
            return []
        out = []
        for d in self.root.iterdir():
            with contextlib.suppress(JobError):
                out.append(self._record(d.name))
        return sorted(out, key=lambda r: r.get("started_at") or "", reverse=True)

    def get(self, job_id: str, tail: int = LOG_TAIL) -> dict:
        rec = self._record(job_id)
        log = self._dir(job_id) / "log.txt"
        text = ""
        if log.exists():
            with log.open("rb") as f:
                f.seek(max(0, log.stat().st_size - tail))
                text = f.read().decode("utf-8", "replace")
        rec["log"] = mask_secrets(text)
        return rec

    # --- actions -----------------------------------------------------------------------------

    def start(self, stage: str, force: bool = False, rounds: int | None = None) -> dict:
        args = stage_command(stage, force, rounds)
        with self._lock:
            for j in self.list():
                if j["state"] == "running":
                    raise JobError(f"job {j['id']} ({j['stage']}) is still running on this "
                                   "workspace; wait for it or cancel it first")
            job_id = uuid.uuid4().hex[:12]
            d = self._dir(job_id)
            d.mkdir(parents=True)
            command = [self.proda, *args[:1], "-w", self.ws.uri, *args[1:]]
            rec = {"id": job_id, "stage": stage, "command": command, "started_at": now(),
                   "force": force}
            self._write(job_id, rec)
            proc = subprocess.Popen(
                [sys.executable, "-m", "proda_ray.studio.jobs", str(d)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, env={**os.environ, "PRODA_STUDIO_JOB": job_id})
            rec["pid"], rec["pid_started"] = proc.pid, start_time(proc.pid)
            self._write(job_id, rec)
            # reap it in the background so it leaves no zombie while the server lives
            threading.Thread(target=proc.wait, daemon=True).start()
        return self._record(job_id)

    def cancel(self, job_id: str) -> dict:
        rec = self._record(job_id)
        if rec["state"] != "running":
            return rec
        rec["cancel_requested"] = now()
        self._write(job_id, rec)
        pid = rec["pid"]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.time() + GRACE_S
        while time.time() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if _group_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        deadline = time.time() + GRACE_S
        while time.time() < deadline and _group_alive(pid):
            time.sleep(0.1)
        return self._record(job_id)


def _group_alive(pgid: int) -> bool:
    """Does any process of group ``pgid`` still run (zombies, waiting to be reaped, do not)?"""
    for proc in Path("/proc").glob("[0-9]*"):
        fields = stat(int(proc.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class RayJobs:
    """Jobs submitted to a Ray cluster's job server (``http://HEAD:8265``)."""

    backend = "ray"

    def __init__(self, ws: Workspace, address: str):
        from ray.job_submission import JobSubmissionClient

        self.ws, self.address = ws, address
        self.client = JobSubmissionClient(address)
        self.root = jobs_dir(ws)

    def _state(self, status) -> str:
        return {"PENDING": "running", "RUNNING": "running", "SUCCEEDED": "succeeded",
                "FAILED": "failed", "STOPPED": "cancelled"}.get(str(status).split(".")[-1],
                                                                "failed")

    def _record(self, job_id: str) -> dict:
        path = self.root / f"{job_id}.json"
        if not re.fullmatch(r"[0-9a-f]{12}", job_id or "") or not path.exists():
            raise JobError(f"no job {job_id!r}")
        rec = json.loads(path.read_text())
        try:
            info = self.client.get_job_info(rec["submission_id"])
        except Exception as e:  # the cluster lost it (restarted) or cannot be reached
            rec.update(state="unknown", ended_at=None, backend=self.backend,
                       error=str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
            return rec
        rec["state"] = self._state(info.status)
        rec["ended_at"] = (datetime.fromtimestamp(info.end_time / 1000, UTC)
                           .isoformat(timespec="seconds") if info.end_time else None)
        rec["backend"] = self.backend
        return rec

    def list(self) -> list[dict]:
        if not self.root.exists():
            return []
        return sorted((self._record(p.stem) for p in self.root.glob("*.json")),
                      key=lambda r: r["started_at"], reverse=True)

    def get(self, job_id: str, tail: int = LOG_TAIL) -> dict:
        rec = self._record(job_id)
        rec["log"] = mask_secrets(self.client.get_job_logs(rec["submission_id"])[-tail:])
        return rec

    def start(self, stage: str, force: bool = False, rounds: int | None = None) -> dict:
        args = stage_command(stage, force, rounds)
        for j in self.list():
            if j["state"] == "running":
                raise JobError(f"job {j['id']} ({j['stage']}) is still running on this "
                               "workspace; wait for it or cancel it first")
        job_id = uuid.uuid4().hex[:12]
        command = ["proda", *args[:1], "-w", self.ws.uri, *args[1:]]
        sid = self.client.submit_job(entrypoint=shlex.join(command),
                                     runtime_env={"env_vars": {"COLUMNS": "4000"}},
                                     submission_id=f"proda-studio-{job_id}")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / f"{job_id}.json").write_text(json.dumps({
            "id": job_id, "stage": stage, "command": command, "started_at": now(),
            "submission_id": sid}))
        return self._record(job_id)

    def cancel(self, job_id: str) -> dict:
        rec = self._record(job_id)
        if rec["state"] == "running":
            self.client.stop_job(rec["submission_id"])
        return self._record(job_id)


# --- the supervisor ---------------------------------------------------------------------------


def supervise(job_dir: Path) -> int:
    """Run the job's command, its output appended to ``log.txt``; write ``result.json``."""
    rec = json.loads((job_dir / "job.json").read_text())
    with (job_dir / "log.txt").open("ab") as log:
        log.write(f"$ {' '.join(rec['command'])}\n".encode())
        log.flush()
        # one line per message (rich wraps at 80 columns off a terminal): a wrapped line
        # would also split a secret past the masking
        env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
               "COLUMNS": "4000"}
        try:
            proc = subprocess.Popen(rec["command"], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            log.write(f"could not start the command: {e}\n".encode())
            _write_result(job_dir, 127)
            return 127

        def forward(signum, _frame):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        rc = proc.wait()
    _write_result(job_dir, rc)
    return rc


def _write_result(job_dir: Path, rc: int) -> None:
    tmp = job_dir / f".result-{uuid.uuid4().hex}"
    tmp.write_text(json.dumps({"returncode": rc, "ended_at": now()}))
    tmp.replace(job_dir / "result.json")


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
