"""Shard functions stream: a big file comes through in bounded batches, nothing lost."""

from __future__ import annotations

import json
from collections import Counter

from proda_ray.spec.config import SpecConfig
from proda_ray.spec.disciplines import load_taxonomy
from proda_ray.spec.readers import list_corpus
from proda_ray.spec.shards import plan_shards, read_shard


def test_big_file_is_read_in_bounded_batches(tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        for i in range(1200):
            f.write(json.dumps({"id": f"r{i}", "text": f"Record number {i} about heat. " * 20})
                    + "\n")
        f.write("{not json\n")
    cfg = SpecConfig(corpus=[str(path)])
    (shard,) = plan_shards(list_corpus(cfg.corpus))
    c: Counter = Counter()
    batches = list(read_shard(shard, cfg, load_taxonomy(), c, batch_rows=100))
    assert len(batches) >= 12
    assert max(b["docs"].num_rows + b["rejected"].num_rows for b in batches) <= 100
    assert sum(b["docs"].num_rows for b in batches) == 1200 == c["documents_read"]
    assert c["rejected:documents.rejected:invalid_json"] == 1
    ids = [i for b in batches for i in b["docs"].column("doc_id").to_pylist()]
    assert len(set(ids)) == 1200


def test_plan_shards_is_deterministic_and_bounded(tmp_path):
    for i in range(30):
        (tmp_path / f"f{i:02d}.txt").write_text("x" * 1000)
    files = list_corpus([str(tmp_path)])
    a = plan_shards(files, target_bytes=4000)
    assert [s.key for s in a] == [s.key for s in plan_shards(list(files), target_bytes=4000)]
    assert all(len(s.files) <= 4 for s in a)
    assert sorted(f.rel_path for s in a for f in s.files) == [f.rel_path for f in files]
