"""A stage in under 60 lines: each discipline's most frequent long words, from ``chunks``.

    run_stage(ws, VocabularyStage(VocabularyConfig()), executor=LocalExecutor())  # or Ray
(docs/architecture.md, "Adding a stage", walks through it).
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from pydantic import BaseModel, Field

from proda_ray.executors import UnitWorker
from proda_ray.workspace import Stage, StageContext, StageFiles, StageResult, Tally

VOCABULARY = pa.schema([("discipline", pa.string()), ("word", pa.string()),
                        ("count", pa.int64())])


class VocabularyConfig(BaseModel):
    top: int = Field(default=20, ge=1, description="Words kept per discipline.")
    min_length: int = Field(default=7, ge=1, description="Shorter words are not counted.")


class CountWords(UnitWorker):
    holds_state = False  # nothing worth keeping between units: on Ray, one task per unit

    def setup(self, files: StageFiles, chunks: str, cfg: dict) -> None:
        self.files, self.chunks, self.cfg = files, chunks, VocabularyConfig(**cfg)

    def process(self, unit: dict) -> Tally:
        rows = self.files.workspace.read_parquet(self.chunks, ["discipline", "text"]).to_pylist()
        words = Counter(w for r in rows if (r["discipline"] or "") == unit["discipline"]
                        for w in r["text"].lower().split()
                        if w.isalpha() and len(w) >= self.cfg.min_length)
        self.files.write_part("vocabulary", unit["key"], pa.Table.from_pylist(
            [{"discipline": unit["discipline"], "word": w, "count": n}
             for w, n in words.most_common(self.cfg.top)], schema=VOCABULARY))
        return Tally(counters={"words": sum(words.values())})


class VocabularyStage(Stage[VocabularyConfig]):
    name, config_model = "vocabulary", VocabularyConfig
    inputs, outputs = ("chunks",), ("vocabulary",)

    def run(self, ctx: StageContext) -> StageResult:
        chunks = ctx.inputs["chunks"].path
        found = ctx.workspace.read_parquet(chunks, ["discipline"]).column(0).to_pylist()
        units = [{"key": f"d{i:03d}", "discipline": d}
                 for i, d in enumerate(sorted({d or "" for d in found}))]
        res = StageResult()
        res.add(ctx.map_units("count", units, CountWords, ctx.files, chunks,
                              self.config.model_dump()).totals)
        res.outputs["vocabulary"] = ctx.table_info("vocabulary")
        return res

