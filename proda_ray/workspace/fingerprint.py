"""Fingerprints: what makes a stage's output what it is.

fingerprint = hash(stage name + code version + config + input fingerprints). A stage whose
fingerprint is unchanged is a no-op; any change to its config, its code or anything upstream
gives a new fingerprint and therefore a rebuild of it and of everything downstream.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import re
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = "proda_ray"
# The framework decides whether and where a stage runs and how its files are laid out, not
# what it computes; its version is the manifest's ``proda_version``. Everything else a stage
# imports is part of its code version (``workspace.rejections`` and ``workspace.tally`` too:
# they shape the rejected tables and the counters).
FRAMEWORK = ("proda_ray.executors", "proda_ray.workspace", "proda_ray.workspace.fingerprint",
             "proda_ray.workspace.manifest", "proda_ray.workspace.runner",
             "proda_ray.workspace.stage", "proda_ray.workspace.storage")
_MODULE_NAME = re.compile(r"proda_ray(\.[A-Za-z_][A-Za-z0-9_]*)+")


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


def _spec_origin(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def _in_scope(name: str) -> bool:
    return (name.startswith(ROOT + ".") and name not in FRAMEWORK
            and not name.startswith("proda_ray.executors."))


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for child in node.body for n in ast.walk(child)}
    return out


def _imports(name: str, path: Path) -> set[str]:
    """The proda_ray modules a module's source imports — at top level or inside functions
    — and the packages it names in strings (``resources.files("proda_ray.x.prompts")``)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                anchor = parts if is_pkg else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # kept if a module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _MODULE_NAME.fullmatch(node.value):
            found.add(node.value)
    out = set()
    for m in found:
        parts = m.split(".")
        for i in range(2, len(parts) + 1):  # importing a.b.c runs a.b's __init__ too
            out.add(".".join(parts[:i]))
    return {m for m in out if _in_scope(m) and _spec_origin(m) is not None}


@cache
def import_closure(module: str) -> tuple[str, ...]:
    """Every proda_ray module (framework excluded) that ``module`` imports, directly or
    through others, itself included: what a stage's output can depend on."""
    seen: set[str] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        if name in seen or (path := _spec_origin(name)) is None:
            continue
        seen.add(name)
        stack += sorted(_imports(name, path) - seen)
    return tuple(sorted(seen))


def _data_files(package_dir: Path) -> list[Path]:
    """A package's bundled resources (prompts, taxonomy): its non-Python files, in
    sub-directories too, but not inside sub-packages (they are modules of their own)."""
    out = []
    for p in sorted(package_dir.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts or p.suffix == ".py" \
                or not _is_source(p):
            continue
        rel_dirs = p.relative_to(package_dir).parents
        if any((package_dir / d / "__init__.py").exists() for d in rel_dirs if str(d) != "."):
            continue
        out.append(p)
    return out


@cache
def closure_fingerprint(*modules: str) -> str:
    """Hash of the source of ``modules``' import closures and of the resources bundled in
    their packages: a stage's code version, derived from what it really imports."""
    names = sorted({m for mod in modules for m in import_closure(mod)})
    h = hashlib.sha256()
    root = Path(import_module(ROOT).__file__ or "").parent
    for name in names:
        path = _spec_origin(name)
        files = [path] + (_data_files(path.parent) if path.name == "__init__.py" else [])
        for f in files:
            h.update((str(f.relative_to(root)) if f.is_relative_to(root) else name).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
