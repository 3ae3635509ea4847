"""What a reader yields: a raw document (or a ``workspace.Rejection`` with a reason)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RawDoc:
    source_path: str  # relative to the corpus root it was found under
    source_key: str  # what the doc id hashes: the record id, or path#record-index
    source_id: str | None
    format: str
    text: str  # decoded, not yet normalized
    encoding: str = "utf-8"
    title: str | None = None
    discipline_raw: str | None = None
    metadata: dict = field(default_factory=dict)
