"""datatrove's own pipelines over a corpus, for ``corpus.py --datatrove PYTHON``.

Runs in a separate environment that has datatrove installed (it is a peer we compare with,
not a dependency of proda-ray):

    python -m venv .dt && .dt/bin/pip install datatrove==0.10.1 orjson spacy
    .venv/bin/python benchmarks/corpus.py --datatrove .dt/bin/python

Two pipelines, each timed from start to finish with ``tasks = workers = --workers``:
(a) Gopher repetition + Gopher quality filters; (b) the four-stage MinHash deduplication
(signatures, buckets, clusters, filter) with datatrove's default MinhashConfig. Prints one
JSON object: seconds, documents in and out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="directory of *.jsonl.gz files")
    p.add_argument("--glob", default="*.jsonl.gz")
    p.add_argument("--tmp", required=True)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    tmp, n = Path(a.tmp), a.workers

    def reader():
        return JsonlReader(a.data, glob_pattern=a.glob, compression="gzip")

    def run(pipeline, tasks, logs):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(n, tasks),
                              logging_dir=str(tmp / "logs" / logs)).run()

    def count(folder: Path) -> int:
        import gzip

        return sum(sum(1 for _ in gzip.open(f, "rt")) for f in folder.glob("*.jsonl.gz"))

    out: dict = {"datatrove": version("datatrove"), "workers": n}
    t0 = time.perf_counter()
    run([reader(), GopherRepetitionFilter(), GopherQualityFilter(),
         JsonlWriter(str(tmp / "quality"))], n, "quality")
    out["quality_s"] = time.perf_counter() - t0
    out["quality_kept"] = count(tmp / "quality")

    cfg = MinhashConfig()
    t0 = time.perf_counter()
    run([reader(), MinhashDedupSignature(str(tmp / "sigs"), config=cfg)], n, "sigs")
    run([MinhashDedupBuckets(str(tmp / "sigs"), str(tmp / "buckets"), config=cfg)],
        cfg.num_buckets, "buckets")
    run([MinhashDedupCluster(str(tmp / "buckets"), str(tmp / "remove"), config=cfg)], 1,
        "cluster")
    run([reader(), MinhashDedupFilter(str(tmp / "remove")), JsonlWriter(str(tmp / "deduped"))],
        n, "filter")
    out["minhash_s"] = time.perf_counter() - t0
    out["minhash_kept"] = count(tmp / "deduped")
    out["minhash_config"] = str(cfg)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
