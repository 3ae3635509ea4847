"""One writer per workspace: a lease that a second run finds and refuses to share.

Every ``proda`` command that builds a stage holds ``lease.json`` at the workspace root while
it runs: who holds it (pid, host, the command), since when, and a heartbeat its holder
renews every ``ttl_s / 4`` seconds. Another command finds it and exits with
``WorkspaceBusy`` ("workspace busy: proda spec (pid 123 on host-a, since …)"); it never
deletes the holder's scratch, whatever its flags say. A holder that died frees the lease: on
the same host at once (its pid is gone, or is another process now), anywhere else when the
heartbeat is ``ttl_s`` old.

Taking the lease is atomic on both backends:

- local directories: the check and the write happen under an ``flock`` of ``.lease.lock``,
  so of two processes that race, one writes and the other then sees its lease;
- object stores (no atomic create through a generic filesystem): write, wait ``settle_s``,
  read back. Stores are read-after-write consistent (S3, GCS, Azure), so of two writers whose
  writes land within ``settle_s`` of each other only the last one reads back its own token;
  the other backs off.

A holder whose heartbeat finds another token (it was stopped for longer than ``ttl_s`` and
someone took over) interrupts its own run rather than write beside the new holder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

from proda_ray.procs import alive, start_time
from proda_ray.workspace.storage import Workspace

log = logging.getLogger(__name__)

LEASE_FILE = "lease.json"
LOCK_FILE = ".lease.lock"


class WorkspaceBusy(RuntimeError):
    """Another live run holds the workspace."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class Lease:
    """The lease of ``ws`` for ``command``; a context manager (acquire, heartbeat, release)."""

    def __init__(self, ws: Workspace, command: str, *, ttl_s: float | None = None,
                 settle_s: float | None = None):
        self.ws, self.command = ws, command
        self.ttl_s = float(ttl_s or os.environ.get("PRODA_LEASE_TTL_S", 60))
        self.settle_s = float(settle_s if settle_s is not None
                              else os.environ.get("PRODA_LEASE_SETTLE_S", 2))
        self.token = uuid.uuid4().hex
        self._flock = ws.is_local
        self.lost = False
        self.taken_by = ""  # who, when lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what a lease says ----------------------------------------------------------------

    def _record(self, since: float | None = None) -> dict:
        now = time.time()
        return {"token": self.token, "command": self.command, "pid": os.getpid(),
                "pid_start": start_time(os.getpid()), "host": socket.gethostname(),
                "since": since or now, "heartbeat": now, "ttl_s": self.ttl_s}

    def read(self) -> dict | None:
        """The current lease, None when there is none. A store that cannot be read raises
        (OSError): not being able to see a lease is not the same as there being none."""
        for attempt in range(3):
            try:
                raw = self.ws.read_bytes(LEASE_FILE)
            except FileNotFoundError:
                return None
            try:
                rec = json.loads(raw)
                break
            except ValueError:
                # A store that shows a file being written as empty (or, like fsspec's memory
                # store, shares one read cursor between threads) can hand back b"" for a
                # whole lease: look again before calling it garbled.
                if attempt == 2:
                    return None  # not a lease this code wrote: nobody's
                time.sleep(0.05)
        return rec if isinstance(rec, dict) else None

    def check(self) -> None:
        """Raise if another run has taken the workspace over (see the heartbeat)."""
        if self.lost:
            raise WorkspaceBusy(f"this run lost {self.ws.uri} to {self.taken_by}; it "
                                "commits nothing more")

    @staticmethod
    def live(rec: dict | None, now: float | None = None) -> bool:
        """Whether ``rec`` is a live holder's lease."""
        if not rec:
            return False
        now = time.time() if now is None else now
        try:
            if now - float(rec.get("heartbeat", 0)) > float(rec.get("ttl_s", 60)):
                return False
        except (TypeError, ValueError):  # not a lease this code wrote
            return False
        if rec.get("host") == socket.gethostname() and isinstance(rec.get("pid"), int):
            return alive(rec["pid"], rec.get("pid_start"))
        return True

    @staticmethod
    def describe(rec: dict) -> str:
        try:
            age = f"{time.time() - float(rec.get('heartbeat', 0)):.0f}s ago"
            since = _iso(float(rec.get("since", 0)))
        except (TypeError, ValueError, OverflowError, OSError):
            age = since = "?"
        return (f"{rec.get('command', '?')} (pid {rec.get('pid', '?')} on "
                f"{rec.get('host', '?')}, since {since}, last heartbeat {age})")

    def _busy(self, rec: dict) -> WorkspaceBusy:
        return WorkspaceBusy(
            f"workspace busy: {self.ws.uri} is held by {self.describe(rec)}; wait for it "
            f"to finish or stop it (its lease lapses {rec.get('ttl_s', 60):.0f}s after its "
            "last heartbeat if it died on another host)")

    # -- taking and giving back -----------------------------------------------------------

    @contextlib.contextmanager
    def _critical(self):
        """Local: an flock around check-and-write. Object stores: nothing to lock."""
        if not self._flock:
            yield
            return
        import fcntl

        self.ws.makedirs()
        fd = os.open(self.ws.path(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:  # a mount without locks (FUSE, some SMB): settle instead
                self._flock = False
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _write(self, rec: dict) -> None:
        self.ws.write_bytes(LEASE_FILE, json.dumps(rec).encode())

    def acquire(self) -> Lease:
        with self._critical():
            current = self.read()
            if self.live(current) and current.get("token") != self.token:
                raise self._busy(current)
            if current:
                log.info("taking over the lapsed lease of %s", self.describe(current))
            self._write(self._record())
        if not self._flock and self.settle_s > 0:  # no lock here: did a racer win?
            time.sleep(self.settle_s)
            back = self.read()
            if not back or back.get("token") != self.token:
                raise self._busy(back or {})
        self._thread = threading.Thread(target=self._heartbeat, name="proda-lease",
                                        daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        since = time.time()
        while not self._stop.wait(self.ttl_s / 4):
            try:
                with self._critical():
                    if self._stop.is_set():  # released meanwhile: write nothing more
                        return
                    current = self.read()
                    if current and current.get("token") != self.token:
                        self.lost = True
                    else:
                        self._write(self._record(since))
            except Exception as e:  # a flaky store: try again at the next beat
                log.warning("lease heartbeat failed: %s", e)
                continue
            if self.lost:
                self.taken_by = self.describe(current)
                log.error("the workspace lease was taken by %s; stopping this run",
                          self.describe(current))
                os.kill(os.getpid(), signal.SIGINT)  # a real signal wakes a blocked wait
                return

    def stop_heartbeat(self) -> None:
        """No more beats (nor a lost-lease interrupt): the run is winding down."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def release(self) -> None:
        self.stop_heartbeat()
        with contextlib.suppress(OSError), self._critical():
            current = self.read()
            if current and current.get("token") == self.token:
                self.ws.delete(LEASE_FILE)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
