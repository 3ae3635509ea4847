"""Fingerprints: what makes a stage's output what it is.

fingerprint = hash(stage name + code version + config + input fingerprints). A stage whose
fingerprint is unchanged is a no-op; any change to its config, its code or anything upstream
gives a new fingerprint and therefore a rebuild of it and of everything downstream.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(stage: str, code_version: str, config: Any, inputs: dict[str, str]) -> str:
    """A 20-hex-char digest of everything that determines a stage's output."""
    payload = _canonical(
        {"stage": stage, "code": code_version, "config": config, "inputs": inputs}
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@cache
def source_fingerprint(*modules: str) -> str:
    """Hash of the Python source (and bundled resources) of modules or packages.

    Used as a stage's code version: editing a stage's code, prompts or default taxonomy
    rebuilds its outputs, without anyone having to remember to bump a version number.
    """
    h = hashlib.sha256()
    for name in sorted(modules):
        mod = import_module(name)
        path = Path(mod.__file__ or "")
        files = (
            sorted(p for p in path.parent.rglob("*") if p.is_file() and _is_source(p))
            if path.name == "__init__.py"
            else [path]
        )
        for f in files:
            h.update(str(f.relative_to(path.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _is_source(p: Path) -> bool:
    return "__pycache__" not in p.parts and p.suffix in {".py", ".yaml", ".yml", ".txt", ".json"}
