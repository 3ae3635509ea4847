"""The two things a reader yields: a raw document, or a rejection with a reason."""

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


@dataclass
class Rejection:
    source_path: str | None
    step: str  # read | decode | normalize | language | quality | dedup
    reason: str
    detail: str = ""
    source_id: str | None = None
    id: str | None = None
    duplicate_of: str | None = None
    preview: str | None = None

    def row(self) -> dict:
        return {
            "id": self.id,
            "source_path": self.source_path,
            "source_id": self.source_id,
            "step": self.step,
            "reason": self.reason,
            "detail": self.detail[:2000],
            "duplicate_of": self.duplicate_of,
            "preview": (self.preview or "")[:200] or None,
        }
