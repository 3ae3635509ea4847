"""The real spec stage (`proda spec`, on Ray) over a seeded hostile corpus of 1,000+ paths
(tests/spec/fuzz_corpus.py): no crash, no hang (a wall-clock bound), and every path accounted
for as a document or a rejection with its reason; record files lose no good record to a bad
line; the encodings that used to be refused or garbled come through as text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.spec.fuzz_corpus import make_corpus

pytestmark = pytest.mark.slow

# kind -> the rejection reason that path must get (None: it must give a document)
EXPECTED = {
    "fifo": "not_regular_file", "dangling_symlink": "dangling_symlink",
    "file_link_loop": "symlink_loop", "file_link_self": "symlink_loop",
    "dir_link_loop": "symlink_loop", "second_link": "duplicate_path",
    "zero_row_parquet": "no_records", "blank_jsonl": "no_records",
    "blank_jsonl_gz": "no_records", "empty": "empty_file", "binary": "binary_content",
    "unsupported": "unsupported_format", "undecodable_name": "undecodable_name",
    "unreadable_file": "permission_denied", "unreadable_dir": "permission_denied",
}
DECODED = {"shift_jis", "euc_jp", "utf16_no_bom", "stray_bytes", "json_gz"}


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    corpus, ws = root / "corpus", root / "ws"
    expect, rows = make_corpus(corpus, 1000)
    proda = str(Path(sys.executable).with_name("proda"))
    t0 = time.monotonic()
    try:
        run = subprocess.run(
            [proda, "spec", "-w", str(ws), "-c", str(corpus), "-q"], capture_output=True,
            text=True, timeout=900, env={**os.environ, "RAY_AUTH_MODE": "disabled",
                                         "RAY_ADDRESS": "", "COLUMNS": "4000"})
    finally:
        for dirpath, dirnames, _ in os.walk(corpus):  # let tmp cleanup into closed dirs
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
    return expect, rows, ws, run, time.monotonic() - t0


def _tables(ws: Path) -> tuple[list[str], list[dict]]:
    m = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    docs = pq.read_table(ws / m["outputs"]["documents"]["path"],
                         columns=["source_path", "encoding"]).to_pylist()
    rej = pq.read_table(ws / m["outputs"]["documents.rejected"]["path"],
                        columns=["source_path", "step", "reason"]).to_pylist()
    return docs, rej


def test_no_crash_no_hang(fuzz_run):
    expect, _rows, _ws, run, seconds = fuzz_run
    assert len(expect) >= 1000
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stdout + run.stderr
    assert seconds < 900


def test_every_path_is_a_document_or_a_rejection(fuzz_run):
    expect, rows, ws, _run, _s = fuzz_run
    docs, rej = _tables(ws)
    accounted = Counter(d["source_path"] for d in docs) + Counter(r["source_path"] for r in rej)
    missing = sorted(p for p in expect if p not in accounted)
    assert not missing, (len(missing), missing[:20])
    # no path counted that was never there (a loop listing files again, by another path)
    assert set(accounted) <= set(expect), sorted(set(accounted) - set(expect))[:20]
    short = {p: (accounted[p], n) for p, n in rows.items() if accounted[p] < n}
    assert not short, short  # a bad line cost no good record


def test_each_hostile_kind_gets_its_own_reason(fuzz_run):
    expect, _rows, ws, _run, _s = fuzz_run
    docs, rej = _tables(ws)
    reasons = defaultdict(set)
    for r in rej:
        reasons[r["source_path"]].add((r["step"], r["reason"]))
    documents = Counter(d["source_path"] for d in docs)
    wrong = {}
    for path, kind in expect.items():
        want = EXPECTED.get(kind)
        got = {reason for _, reason in reasons[path]}
        if want and want not in got:
            wrong[path] = (kind, sorted(got), documents[path])
        if kind in DECODED and (documents[path] == 0 and any(
                step == "decode" for step, _ in reasons[path])):
            wrong[path] = (kind, "refused by the decoder", sorted(reasons[path]))
    assert not wrong, dict(list(wrong.items())[:20])
    encodings = Counter(d["encoding"] for d in docs)
    assert any(e.startswith("utf-8+replaced") for e in encodings), encodings
    assert any("surrogates" in e for e in encodings), encodings
    assert encodings.get("utf-16-le", 0) + encodings.get("utf-16-be", 0) > 0, encodings


def test_no_chunk_exceeds_the_character_bound(fuzz_run):
    _expect, _rows, ws, _run, _s = fuzz_run
    m = json.loads((ws / "stages" / "spec" / "manifest.json").read_text())
    chunks = pq.read_table(ws / m["outputs"]["chunks"]["path"], columns=["text"]).to_pylist()
    rejected = pq.read_table(ws / m["outputs"]["chunks.rejected"]["path"],
                             columns=["preview"]).num_rows
    assert chunks or rejected
    assert max((len(c["text"]) for c in chunks), default=0) <= 16 * 1024
