"""Is a recorded process still the one we recorded? (the Studio's jobs, the workspace lease)

A pid alone is not enough: pids are reused. Where ``/proc`` exists, the kernel's start time
of the process (field 22 of ``/proc/<pid>/stat``) tells a reused pid apart, and a zombie
(exited, not yet reaped) counts as gone. Elsewhere (macOS) only ``kill(pid, 0)`` answers.
"""

from __future__ import annotations

import os
from pathlib import Path


def stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, …"""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def start_time(pid: int) -> str | None:
    fields = stat(pid)
    return fields[19] if fields else None  # field 22 of stat: start time in clock ticks


def alive(pid: int | None, started: str | None) -> bool:
    """Is ``pid`` still the process that started at ``started`` (None: any)?"""
    if not pid:
        return False
    fields = stat(pid)
    if fields is not None:
        return fields[0] != "Z" and (started is None or fields[19] == started)
    if Path("/proc/self/stat").exists():  # /proc works and has no such process
        return False
    try:  # no /proc here
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True
