"""A rejection: a row that did not make it into a table, with the step and the reason.

Every stage writes its rejections to ``<table>.rejected`` (schema ``REJECTED``) and counts
them in its manifest: nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from proda_ray.schema import REJECTED


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


def rejected_table(rows: list[Rejection]) -> pa.Table:
    """Rejections as a ``REJECTED`` table."""
    return pa.Table.from_pylist([r.row() for r in rows], schema=REJECTED)
