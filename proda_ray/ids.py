"""Stable content-hash ids with a readable prefix.

Ids are never positional counters: the same content always gets the same id, whatever order
rows arrive in and however many workers produced them. That is what lets knowledge merged
across chunks, reruns and new documents keep every cross-link valid (the reference
implementation renumbered `chain-001`, `stmt-001` per run and broke its own links).

>>> make_id("doc", "openstax/physics/m54599")
'doc-96233a4c169b03e0'
"""

from __future__ import annotations

import hashlib
from typing import Literal

Prefix = Literal["doc", "chunk", "chain", "stmt", "concept", "item", "sft", "patch", "pred", "diag",
                 "probe"]

PREFIXES: tuple[str, ...] = (
    "doc", "chunk", "chain", "stmt", "concept", "item", "sft", "patch", "pred", "diag", "probe",
)

# 64 bits: the birthday bound is ~4e9 ids per prefix, far beyond any corpus we target.
_DIGEST_BYTES = 8


def content_hash(*parts: str | bytes, digest_bytes: int = _DIGEST_BYTES) -> str:
    """Hex blake2b digest of the parts, separated so that ("ab", "c") != ("a", "bc")."""
    h = hashlib.blake2b(digest_size=digest_bytes)
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def make_id(prefix: Prefix, *parts: str | bytes) -> str:
    """`<prefix>-<16 hex>` from the content parts. Deterministic across processes and machines."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of {PREFIXES}")
    return f"{prefix}-{content_hash(*parts)}"


def id_prefix(node_id: str) -> str:
    """The readable prefix of an id (`chunk-…` -> `chunk`)."""
    prefix, sep, _ = node_id.partition("-")
    if not sep or prefix not in PREFIXES:
        raise ValueError(f"not a proda id: {node_id!r}")
    return prefix
