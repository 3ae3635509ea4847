"""Extraction throughput and pipeline efficiency with the embedded local engine.

    python benchmarks/extraction.py [--limit 20] [--chunk-tokens 512]

1. spec over two OpenStax books (physics, microbiology), chunks of ``--chunk-tokens``;
2. ``extract`` (Ray, 1 worker, fresh response cache) on ``--limit`` chunks spread over both
   disciplines, then ``merge``;
3. the same chunks again, in this process, through a bare uncached engine: the same prompts
   (sampling is seeded, so every level sees identical inputs), giving the raw engine's
   tokens/s measured in the same run.

efficiency = pipeline tokens/s / raw engine tokens/s (target >= 0.9). Also prints tokens per
chunk by level, to estimate the cost of a full corpus. Writes results/extraction.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from proda_ray.engines import CachedEngine, GenerationRequest, Usage
from proda_ray.engines.base import Engine, LocalEngineConfig
from proda_ray.engines.local import LlamaCppEngine
from proda_ray.knowledge.config import ExtractConfig, MergeConfig
from proda_ray.knowledge.extract import extract_chunks
from proda_ray.knowledge.merge_stage import MergeStage
from proda_ray.knowledge.stage import ExtractStage
from proda_ray.runtime import ensure_ray
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.stage import SpecStage
from proda_ray.workspace import Workspace, run_stage

OPENSTAX = Path(__file__).resolve().parents[2] / "shared/corpora/openstax"
BOOKS = ["001_physics.jsonl.gz", "006_microbiology.jsonl.gz"]


class LevelCounter(Engine):
    """Wraps an engine; sums tokens by extraction level (recognized from the prompt)."""

    kind = "local"

    def __init__(self, engine: Engine):
        self.engine, self.by_level = engine, Counter()

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def generate(self, requests: list[GenerationRequest]):
        out = self.engine.generate(requests)
        for r, res in zip(requests, out, strict=True):
            head = r.prompt[:200]
            level = ("l3" if "reasoning chain" in head or "Name the process" in head else
                     "l2" if "statement" in head.lower() else "l1")
            self.by_level[f"{level}_calls"] += 1
            self.by_level[f"{level}_prompt_tokens"] += res.prompt_tokens
            self.by_level[f"{level}_completion_tokens"] += res.completion_tokens
        return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--chunk-tokens", type=int, default=512)
    p.add_argument("--out", default=str(Path(__file__).with_name("results") / "extraction.json"))
    args = p.parse_args()
    ensure_ray()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        spec = SpecConfig(corpus=[str(OPENSTAX / b) for b in BOOKS])
        spec.chunk.max_tokens = args.chunk_tokens
        run_stage(ws, SpecStage(spec), show_progress=False)
        cfg = ExtractConfig(limit=args.limit, disciplines=["001", "006"])
        t0 = time.perf_counter()
        ex = run_stage(ws, ExtractStage(cfg, workers=1), show_progress=False)
        wall = time.perf_counter() - t0
        mg = run_stage(ws, MergeStage(MergeConfig()), show_progress=False)
        m = ex.manifest
        pipe_tokens = m.usage.prompt_tokens + m.usage.completion_tokens
        stage_s = m.timings_s["extract"] + m.timings_s.get("materialize", 0)

        # the same chunks through a bare engine, in-process, same prompts
        chunks = []
        for f in sorted(Path(tmp).glob("stages/extract/runs/*/inputs/*.parquet")):
            chunks += ws.read_parquet(str(f.relative_to(tmp))).to_pylist()
        engine = LevelCounter(LlamaCppEngine(LocalEngineConfig()))
        raw = CachedEngine(engine, None)  # no cache: every call runs
        raw.usage = Usage()
        t0 = time.perf_counter()
        extract_chunks(chunks, raw, cfg)
        raw_s = time.perf_counter() - t0
        raw_tokens = raw.usage.prompt_tokens + raw.usage.completion_tokens

    n = m.counters["chunks"]
    res = {
        "chunks": n, "chunk_tokens": args.chunk_tokens, "disciplines": ["001", "006"],
        "pipeline": {"stage_wall_s": round(wall, 2), "extract_s": round(stage_s, 2),
                     "tokens": pipe_tokens, "tokens_per_s": round(pipe_tokens / stage_s, 1),
                     "chunks_per_s": round(n / stage_s, 4), "calls": m.usage.calls},
        "raw_engine": {"seconds": round(raw_s, 2), "tokens": raw_tokens,
                       "tokens_per_s": round(raw_tokens / raw_s, 1), "calls": raw.usage.calls},
        "efficiency": round((pipe_tokens / stage_s) / (raw_tokens / raw_s), 3)
        if raw_tokens else None,
        "s_per_chunk": round(stage_s / n, 2) if n else None,
        "mined_share": m.report.get("mined_share"),
        "per_expository_chunk": m.report.get("per_expository_chunk"),
        "tokens_per_chunk_by_level": {k: round(v / n, 1) for k, v in
                                      sorted(engine.by_level.items())},
        "knowledge": {"chains": m.counters.get("chains", 0),
                      "statements": m.counters.get("statements", 0),
                      "concepts": mg.manifest.counters.get("concepts", 0),
                      "grounding": m.report["grounding"], "graph": mg.manifest.report["graph"],
                      "rejected": m.rejected},
    }
    print(json.dumps(res, indent=2))
    per_chunk = (pipe_tokens / n) if n else 0
    print(f"\n{n} chunks · {res['s_per_chunk']} s/chunk · "
          f"pipeline {res['pipeline']['tokens_per_s']} tok/s vs raw engine "
          f"{res['raw_engine']['tokens_per_s']} tok/s -> efficiency {res['efficiency']} · "
          f"{per_chunk:.0f} tokens/chunk -> 48k chunks ~ {per_chunk * 48_000 / 1e6:.0f}M tokens")
    Path(args.out).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
