"""Regression tests, one per input that used to hang, crash, drop or garble (issue 18)."""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from proda_ray.spec.chunk import chunk_text
from proda_ray.spec.config import SpecConfig
from proda_ray.spec.decode import decode_bytes
from proda_ray.spec.readers import list_corpus, read_file
from proda_ray.spec.shards import Shard, read_shard
from proda_ray.tokenizer import load_tokenizer
from proda_ray.workspace.rejections import Rejection

TEXT = ("Heat moves from a warmer body to a colder one until both reach the same temperature. "
        "Conduction needs contact; convection carries heat with a moving fluid.")


def listed(root: Path, timeout: float = 30) -> list:
    """list_corpus with a wall-clock guard (the loops used to hang it)."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(list_corpus([str(root)])), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "list_corpus hung"
    return out[0]


def items(path: Path) -> list:
    cfg = SpecConfig(corpus=[str(path)])
    return [x for f in list_corpus([str(path)])
            for x in read_file(f, cfg.read, cfg.normalize.min_decode_confidence)]


def reasons(xs: list) -> list[str]:
    return sorted(x.reason for x in xs if isinstance(x, Rejection))


def docs(xs: list) -> list:
    return [x for x in xs if not isinstance(x, Rejection)]


def test_two_directory_link_loops_neither_hang_nor_repeat(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text(TEXT)
    os.symlink(".", tmp_path / "s")
    os.symlink("..", tmp_path / "sub" / "p")
    files = listed(tmp_path)
    rel = Counter(f.rel_path for f in files)
    assert rel["a.txt"] == 1 and rel["sub/b.txt"] == 1
    problems = {f.rel_path: f.problem for f in files if f.problem}
    assert problems == {"s": "symlink_loop", "sub/p": "symlink_loop"}


def test_one_link_to_dot_lists_each_file_once(tmp_path):
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(TEXT)
    os.symlink(".", tmp_path / "loop")
    files = listed(tmp_path)
    assert sorted(f.rel_path for f in files if not f.problem) == [f"f{i}.txt" for i in range(5)]


def test_a_lone_surrogate_is_replaced_not_fatal(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"id": "a\\ud800", "title": "t\\udc00", "text": "heat \\ud800 moves"}\n'
                 + json.dumps({"id": "ok", "text": TEXT}) + "\n")
    got = docs(items(p))
    assert len(got) == 2
    assert got[0].text == "heat \ufffd moves" and got[0].source_id == "a\ufffd"
    assert got[0].encoding.endswith("+replaced_surrogates")
    # and the shard's tables are written (Arrow refused the surrogate before)
    cfg = SpecConfig(corpus=[str(p)])
    shard = Shard("k", tuple(list_corpus([str(p)])))
    out = list(read_shard(shard, cfg, [], Counter()))
    assert sum(b["docs"].num_rows for b in out) == 2


@pytest.mark.parametrize("bad", [b'{"n": ' + b"9" * 5000 + b', "text": "x"}',
                                 b"[" * 5000 + b"]" * 5000, b'{"text": '])
def test_one_bad_line_costs_only_that_line(tmp_path, bad):
    lines = [json.dumps({"id": f"r{i}", "text": f"{TEXT} {i}"}).encode() for i in range(1000)]
    lines.insert(10, bad)
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"\n".join(lines))
    xs = items(p)
    assert len(docs(xs)) == 1000
    assert reasons(xs) == ["invalid_json"]


def test_valid_json_gz_is_read(tmp_path):
    p = tmp_path / "a.json.gz"
    p.write_bytes(gzip.compress(json.dumps([{"id": "1", "text": TEXT},
                                            {"id": "2", "text": TEXT + " More."}]).encode()))
    xs = items(p)
    assert len(docs(xs)) == 2 and not reasons(xs)


@pytest.mark.parametrize("enc", ["shift_jis", "euc_jp"])
def test_japanese_in_legacy_encodings_is_text(enc):
    ja = "熱は温かい物体から冷たい物体へ移動します。伝導、対流、放射の三つの方法があります。"
    text, used = decode_bytes(ja.encode(enc))
    assert text == ja, used


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_text(enc):
    assert decode_bytes(TEXT.encode(enc)) == (TEXT, enc)


def test_two_stray_bytes_do_not_turn_utf8_into_mojibake():
    text, used = decode_bytes("café naïve ".encode() + b"\xe9 and \xe8 " + TEXT.encode())
    assert text.startswith("café naïve \ufffd and \ufffd ") and TEXT in text
    assert used == "utf-8+replaced_2_bytes"
    # a code page with no UTF-8 in it is still detected as that code page
    fr = ("Les plaques tectoniques se déplacent lentement. À leurs frontières, la croûte se "
          "forme ou disparaît, et des séismes se produisent souvent près des fosses.")
    assert decode_bytes(fr.encode("cp1252")) == (fr, "cp1252")


def test_paths_that_are_not_files_are_rejections(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    os.symlink("nowhere.txt", tmp_path / "dangling.txt")
    os.symlink("b.txt", tmp_path / "a.txt")
    os.symlink("a.txt", tmp_path / "b.txt")
    os.symlink("self.txt", tmp_path / "self.txt")
    (tmp_path / "blank.jsonl").write_text("\n \n\t\n")
    (tmp_path / "blank.jsonl.gz").write_bytes(gzip.compress(b"\n" * 10_000))
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    pq.write_table(pa.Table.from_pylist([], schema=schema), tmp_path / "none.parquet")
    (tmp_path / "real.txt").write_text(TEXT)
    os.symlink("real.txt", tmp_path / "alias.txt")
    cfg = SpecConfig(corpus=[str(tmp_path)])
    got = {}
    for f in listed(tmp_path):
        for x in read_file(f, cfg.read, cfg.normalize.min_decode_confidence):
            got.setdefault(f.rel_path, []).append(x.reason if isinstance(x, Rejection) else "doc")
    assert got == {"pipe.txt": ["not_regular_file"], "dangling.txt": ["dangling_symlink"],
                   "a.txt": ["symlink_loop"], "b.txt": ["symlink_loop"],
                   "self.txt": ["symlink_loop"], "blank.jsonl": ["no_records"],
                   "blank.jsonl.gz": ["no_records"], "none.parquet": ["no_records"],
                   "alias.txt": ["doc"], "real.txt": ["duplicate_path"]}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file and directory")
def test_unreadable_paths_are_permission_denied(tmp_path):
    (tmp_path / "locked.txt").write_text(TEXT)
    os.chmod(tmp_path / "locked.txt", 0)
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "x.txt").write_text(TEXT)
    os.chmod(tmp_path / "closed", 0)
    try:
        problems = {f.rel_path: f.problem for f in listed(tmp_path)}
    finally:
        os.chmod(tmp_path / "closed", 0o755)
    assert problems == {"closed": "permission_denied", "locked.txt": "permission_denied"}


def test_a_run_without_spaces_is_cut_by_characters():
    tok = load_tokenizer()
    text = "Intro.\n\n" + "a" * 2_000_000 + "\n\nOutro paragraph."
    chunks = chunk_text(text, tok, 1024, 64, 0, max_chars=16 * 1024)
    assert max(len(c.text) for c in chunks) <= 16 * 1024
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert sum(len(c.text) for c in chunks) >= 2_000_000  # nothing dropped
