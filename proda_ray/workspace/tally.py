"""What a unit of work counted: typed counters, rejections, LLM usage and breakdowns.

A worker returns one ``Tally`` per unit; the executor writes it as the unit's done marker and
sums the markers into the stage's ``UnitRun``. The stage reads fields, never key prefixes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

from proda_ray.workspace.manifest import TokenUsage
from proda_ray.workspace.rejections import Rejection


class Tally(BaseModel):
    counters: dict[str, int] = Field(default_factory=dict, description="Name -> count.")
    rejected: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Rejected table -> reason -> rows.")
    usage: TokenUsage = Field(default_factory=TokenUsage, description="LLM calls and tokens.")
    groups: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Named breakdowns (e.g. samples kept by task type).")

    def count(self, key: str, n: int = 1) -> Tally:
        self.counters[key] = self.counters.get(key, 0) + n
        return self

    def reject(self, table: str, reason: str, n: int = 1) -> Tally:
        reasons = self.rejected.setdefault(table, {})
        reasons[reason] = reasons.get(reason, 0) + n
        return self

    def rejections(self, table: str, rows: Iterable[Rejection], *, step: bool = True) -> Tally:
        """Count rejection records under ``step:reason`` (or ``reason`` alone)."""
        for r in rows:
            self.reject(table, f"{r.step}:{r.reason}" if step else r.reason)
        return self

    def group(self, name: str, key: str, n: int = 1) -> Tally:
        g = self.groups.setdefault(name, {})
        g[key] = g.get(key, 0) + n
        return self

    def merge(self, other: Tally) -> Tally:
        for k, v in other.counters.items():
            self.count(k, v)
        for t, reasons in other.rejected.items():
            for r, v in reasons.items():
                self.reject(t, r, v)
        self.usage.merge(other.usage)
        for name, g in other.groups.items():
            for k, v in g.items():
                self.group(name, k, v)
        return self

    @classmethod
    def of(cls, counts: Mapping[str, int], *, rejected_table: str | None = None,
           usage: object | None = None) -> Tally:
        """A tally from a compute function's ``Counter``, whose rejection counts are keyed
        ``rejected:<table>:<reason>`` (or ``rejected:<step>:<reason>`` when every rejection
        goes to ``rejected_table``). The one place such keys are read."""
        t = cls()
        for key, v in Counter(counts).items():
            if key.startswith("rejected:"):
                rest = key.removeprefix("rejected:")
                if rejected_table:
                    t.reject(rejected_table, rest, v)
                else:
                    table, reason = rest.split(":", 1)
                    t.reject(table, reason, v)
            else:
                t.count(key, v)
        if usage is not None:
            t.usage.merge(usage.model_dump() if hasattr(usage, "model_dump") else usage)
        return t
