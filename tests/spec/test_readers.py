"""Every kind of input a user may have ends as documents or as counted, reasoned rejections."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from proda_ray.spec.config import ReadConfig
from proda_ray.spec.decode import DecodeError, decode_bytes
from proda_ray.spec.readers import CorpusFile, detect_format, list_corpus, read_file
from proda_ray.spec.records import RawDoc
from proda_ray.workspace.rejections import Rejection
from tests.conftest import SAMPLE_CORPUS


def read(path: Path, cfg: ReadConfig | None = None, rel: str | None = None):
    f = CorpusFile(str(path), rel or path.name, path.stat().st_size, 0)
    return list(read_file(f, cfg or ReadConfig()))


def reasons(items) -> list[str]:
    return [i.reason for i in items if isinstance(i, Rejection)]


def docs(items) -> list[RawDoc]:
    return [i for i in items if isinstance(i, RawDoc)]


@pytest.mark.parametrize("name,reason", [
    ("binary_blob.txt", "binary_content"),
    ("empty.txt", "empty_file"),
    ("mojibake.txt", "undecodable_encoding"),
    ("not_really.docx", "corrupt_file"),
    ("notes.xyz", "unsupported_format"),
    ("truncated.jsonl.gz", "corrupt_file"),
    ("truncated_scan.pdf", "corrupt_file"),
])
def test_broken_sample_files_are_rejections(name, reason):
    items = read(SAMPLE_CORPUS / "broken" / name)
    assert reason in reasons(items)


def test_good_sample_files_read_with_structure():
    pdf = docs(read(SAMPLE_CORPUS / "astronomy_stars.pdf"))
    assert pdf[0].title == "The Life Cycle of Stars" and "supernova" in pdf[0].text
    docx = docs(read(SAMPLE_CORPUS / "psychology_memory.docx"))[0]
    assert "## Encoding" in docx.text and "- Decay" in docx.text
    html = docs(read(SAMPLE_CORPUS / "chemistry_acids_bases.html"))[0]
    assert html.title == "Acids, Bases and pH"
    assert "## Strong and Weak Acids" in html.text and "Pure water | 7.0" in html.text
    assert "navigation script" not in html.text and "Home" not in html.text
    cp = docs(read(SAMPLE_CORPUS / "earth_science_plates_cp1252.txt"))[0]
    assert cp.encoding == "cp1252" and "naïve" in cp.text and "4 °C" in cp.text


def test_jsonl_mixed_good_and_bad_records():
    items = read(SAMPLE_CORPUS / "records.jsonl")
    assert [d.source_id for d in docs(items)] == [
        "sample/economics/supply-demand", "sample/cs/hash-tables", "sample/economics/empty"]
    assert sorted(reasons(items)) == ["invalid_json", "missing_text"]
    assert docs(items)[0].discipline_raw == "011"
    assert docs(items)[1].discipline_raw == "Computer Science"  # fallback field


def test_field_mapping_and_parquet(tmp_path):
    t = pa.table({"uid": ["a", "b"], "body": ["first text", "second text"], "kind": ["x", "y"]})
    pq.write_table(t, tmp_path / "d.parquet")
    cfg = ReadConfig.model_validate({"fields": {"id": "uid", "text": "body", "title": None,
                                                "discipline": "kind"}})
    got = docs(read(tmp_path / "d.parquet", cfg))
    assert [(d.source_id, d.text, d.discipline_raw) for d in got] == [
        ("a", "first text", "x"), ("b", "second text", "y")]
    assert got[0].source_key == "id:a"


def test_json_array_and_gzip(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"id": 1, "text": "one"}, {"text": "two"}]))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "z", "text": "zed"}) + "\n\n")
    assert [d.text for d in docs(read(tmp_path / "a.json"))] == ["one", "two"]
    assert docs(read(tmp_path / "a.json"))[1].source_key == "path:a.json#1"
    assert [d.source_id for d in docs(read(tmp_path / "b.jsonl.gz"))] == ["z"]


def test_huge_inputs_are_rejected_not_loaded(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 50_000)
    cfg = ReadConfig(max_file_bytes=100_000, max_doc_chars=1_000)
    assert reasons(read(big, cfg)) == ["file_too_large"]
    jl = tmp_path / "big.jsonl"
    jl.write_text(json.dumps({"id": "h", "text": "x" * 100_000}) + "\n"
                  + json.dumps({"id": "s", "text": "small"}) + "\n")
    items = read(jl, cfg)
    assert reasons(items) == ["too_large"]  # the oversized record, not the whole file
    assert [d.source_id for d in docs(items)] == ["s"]


def test_decode_utf16_bom_latin1_and_binary():
    assert decode_bytes("héllo wörld".encode("utf-16")) == ("héllo wörld", "utf-16")
    text = ("Le café est très apprécié dans la région, où l'été est chaud. " * 5).encode("latin-1")
    decoded, enc = decode_bytes(text)
    assert "café" in decoded and enc in ("cp1252", "latin_1", "iso8859_15")
    with pytest.raises(DecodeError) as e:
        decode_bytes(b"\x00\x01\x02" * 100)
    assert e.value.reason == "binary_content"


def test_list_corpus_dirs_globs_and_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub" / "b.md").write_text("b")
    by_dir = list_corpus([str(tmp_path)])
    assert [f.rel_path for f in by_dir] == ["a.txt", "sub/b.md"]
    by_glob = list_corpus([str(tmp_path / "**" / "*.md")])
    assert [f.rel_path for f in by_glob] == ["sub/b.md"]
    with pytest.raises(FileNotFoundError):
        list_corpus([str(tmp_path / "missing")])


def test_detect_format():
    assert detect_format("x/Y.JSONL.GZ") == "jsonl"
    assert detect_format("a.htm") == "html"
    assert detect_format("a.tar.gz") is None
