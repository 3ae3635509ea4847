"""One writer per workspace (issue 18): the lease on a local directory and on an object
store (fsspec's memory filesystem, which has no atomic create either), its expiry, its
heartbeat, and the holder that loses it. The CLI's busy message is in tests/test_cli_lease.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from proda_ray.workspace import Workspace
from proda_ray.workspace.lease import LEASE_FILE, Lease, WorkspaceBusy


def _foreign(ws: Workspace, **over) -> dict:
    """A lease written by someone else (another host unless ``over`` says otherwise)."""
    now = time.time()
    rec = {"token": uuid.uuid4().hex, "command": "proda extract", "pid": 4242,
           "host": "gpu-node-7", "since": now - 300, "heartbeat": now, "ttl_s": 60} | over
    ws.makedirs()
    ws.write_bytes(LEASE_FILE, json.dumps(rec).encode())
    return rec


@pytest.fixture(params=["local", "memory"])
def ws(request, tmp_path):
    if request.param == "local":
        return Workspace(tmp_path / "ws")
    return Workspace(f"memory://lease-{uuid.uuid4().hex}/ws")


def test_a_second_holder_is_refused_with_who_holds_it(ws):
    with Lease(ws, "proda spec", settle_s=0.05) as first:
        assert ws.exists(LEASE_FILE)
        with pytest.raises(WorkspaceBusy) as e:
            Lease(ws, "proda extract", settle_s=0.05).acquire()
        msg = str(e.value)
        assert "workspace busy" in msg and "proda spec" in msg
        assert f"pid {os.getpid()}" in msg and socket.gethostname() in msg and "since" in msg
        assert first.read()["token"] == first.token
    assert not ws.exists(LEASE_FILE)  # given back
    with Lease(ws, "proda extract", settle_s=0.05):  # and free for the next run
        pass


def test_another_hosts_lease_holds_until_its_heartbeat_lapses(ws):
    _foreign(ws, ttl_s=1.0)
    with pytest.raises(WorkspaceBusy, match="gpu-node-7"):
        Lease(ws, "proda spec", settle_s=0.05).acquire()
    time.sleep(1.3)  # no heartbeat for longer than its ttl: the holder is gone
    lease = Lease(ws, "proda spec", settle_s=0.05).acquire()
    try:
        assert lease.read()["token"] == lease.token
    finally:
        lease.release()


def test_a_dead_holder_on_this_host_frees_the_lease_at_once(tmp_path):
    ws = Workspace(tmp_path / "ws")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    _foreign(ws, host=socket.gethostname(), pid=int(gone.stdout), ttl_s=3600)
    with Lease(ws, "proda spec"):  # its heartbeat is fresh, but its process has exited
        pass
    # a live process of this host (this one) that is not the holder keeps it
    _foreign(ws, host=socket.gethostname(), pid=os.getpid(), ttl_s=3600, pid_start=None)
    with pytest.raises(WorkspaceBusy):
        Lease(ws, "proda spec").acquire()


def test_the_heartbeat_keeps_a_long_run_alive(ws):
    with Lease(ws, "proda train", ttl_s=0.8, settle_s=0.05) as lease:
        first = lease.read()["heartbeat"]
        time.sleep(2.0)  # 2.5 ttls: without a heartbeat the lease would have lapsed
        rec = lease.read()
        assert rec["heartbeat"] > first and Lease.live(rec)
        with pytest.raises(WorkspaceBusy):
            Lease(ws, "proda spec", settle_s=0.05).acquire()


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_of_racing_writers_exactly_one_wins(backend, tmp_path):
    ws = Workspace(tmp_path / "ws") if backend == "local" \
        else Workspace(f"memory://race-{uuid.uuid4().hex}/ws")
    won, busy, go = [], [], threading.Event()

    def contend(i: int) -> None:
        lease = Lease(ws, f"proda run #{i}", settle_s=0.5)
        go.wait()
        try:
            won.append(lease.acquire())
        except WorkspaceBusy:
            busy.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(30)
    try:
        assert len(won) == 1 and len(busy) == 5
        assert won[0].read()["token"] == won[0].token
    finally:
        for lease in won:
            lease.release()


def test_a_holder_that_lost_its_lease_stops_its_run(tmp_path):
    """A holder stopped for longer than its ttl (someone took over) must not go on writing
    beside the new holder: its next heartbeat interrupts it."""
    ws = Workspace(tmp_path / "ws")
    script = textwrap.dedent(f"""
        import time
        from proda_ray.workspace import Workspace
        from proda_ray.workspace.lease import Lease
        with Lease(Workspace({ws.uri!r}), "proda extract", ttl_s=0.4):
            print("held", flush=True)
            time.sleep(30)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        _foreign(ws)  # another run took the workspace over
        t0 = time.monotonic()
        rc = proc.wait(timeout=10)
        assert rc != 0 and time.monotonic() - t0 < 5
        assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)


def test_a_lease_that_cannot_be_read_is_not_a_free_workspace(tmp_path):
    """A store error (here a directory where the lease file should be) is an error: a second
    run must not take over a lease it could not see."""
    ws = Workspace(tmp_path / "ws")
    (tmp_path / "ws" / LEASE_FILE).mkdir(parents=True)
    with pytest.raises(OSError):
        Lease(ws, "proda spec").acquire()


def test_a_foreign_or_garbled_lease_file_is_nobodys(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.makedirs()
    for body in (b"[1, 2]", b"{not json", b'{"heartbeat": "soon", "ttl_s": "x"}'):
        ws.write_bytes(LEASE_FILE, body)
        with Lease(ws, "proda spec") as lease:
            assert lease.read()["token"] == lease.token
