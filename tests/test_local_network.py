"""A laptop run listens on loopback only (issue 18, part 6): every listening socket of a real
`proda spec` and of the local Ray it starts (GCS, raylet, object manager, workers, agents),
sampled while it runs, is bound to 127.0.0.1. The control run, with Ray's Linux default kept
(``PRODA_RAY_LOOPBACK=0``), shows the probe does see sockets off loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import SAMPLE_CORPUS

PRODA = str(Path(sys.executable).with_name("proda"))
pytestmark = pytest.mark.slow


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _listening(cmd: list[str], env: dict) -> dict[tuple[str, int], str]:
    """(address, port) -> process name of every listening TCP/UDP socket that ``cmd`` or a
    process it started opened, sampled until it exits."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    seen: dict[tuple[str, int], str] = {}
    root = psutil.Process(proc.pid)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        try:
            tree = {p.pid: p for p in root.children(recursive=True)} | {root.pid: root}
        except psutil.NoSuchProcess:
            break
        for c in psutil.net_connections(kind="inet"):
            if c.pid in tree and (c.status == psutil.CONN_LISTEN or not c.raddr):
                with contextlib.suppress(psutil.NoSuchProcess):
                    seen[(c.laddr.ip, c.laddr.port)] = tree[c.pid].name()
        time.sleep(0.2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return seen


def _has_other_interface() -> bool:
    return any(not _loopback(a.address) for addrs in psutil.net_if_addrs().values()
               for a in addrs if a.family.name in ("AF_INET", "AF_INET6"))


def test_a_local_run_listens_on_loopback_only(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    env.pop("PRODA_RAY_LOOPBACK", None)
    cmd = [PRODA, "spec", "-w", str(tmp_path / "ws"), "-c", str(SAMPLE_CORPUS), "-q"]
    seen = _listening(cmd, env)
    names = set(seen.values())
    assert {"gcs_server", "raylet"} <= names, seen  # the probe saw Ray's own servers
    off = {k: v for k, v in seen.items() if not _loopback(k[0])}
    assert not off, f"listening off loopback: {off}"

    if not _has_other_interface():
        pytest.skip("no interface besides loopback: the control cannot show a difference")
    control = _listening([*cmd, "--force"], env | {"PRODA_RAY_LOOPBACK": "0"})
    assert any(not _loopback(ip) for ip, _ in control), control
