"""A seeded hostile corpus: every kind of input the spec stage has tripped on, and more.

``make_corpus(root, n)`` writes about ``n`` files (and links, FIFOs, directories) under
``root`` and returns the paths (relative to ``root``) that the stage must account for, each
with what kind of input it is. Ordinary documents (synthetic English prose, in every reader
format) are mixed with: record files with broken lines (invalid JSON, a 5,000-digit number,
nesting 5,000 deep, a lone surrogate in the text, the id and the title, non-objects, missing
text), valid and corrupt gzip, zero-row Parquet, blank-line JSONL (plain and gzip), empty and
binary files, unsupported extensions, Japanese in Shift-JIS and EUC-JP, UTF-16 without a BOM,
UTF-8 with stray Latin-1 bytes, a run of text without spaces, corrupt PDF/DOCX, FIFOs,
dangling links, file-link loops, directory-link loops (``ln -s . s``, ``ln -s .. p``), a
second link to a file, and a file name that is not UTF-8. Unreadable files and directories
are added when the tests do not run as root (root reads everything).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = tuple(str.split(
    "heat energy moves from the warmer body to the colder one until both reach the same "
    "temperature conduction needs contact convection carries heat with a moving fluid "
    "radiation needs no medium at all a cell divides by mitosis after copying its dna "
    "plants turn light water and carbon dioxide into sugar and oxygen rivers carry "
    "sediment to the sea where it settles in layers over many years"))


def prose(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
        out.append(" ".join(words).capitalize() + ".")
    paras = [" ".join(out[i:i + 4]) for i in range(0, len(out), 4)]
    return "\n\n".join(paras)


JAPANESE = ("熱は温かい物体から冷たい物体へ移動します。伝導、対流、放射の三つの方法があります。"
            "植物は光と水と二酸化炭素から糖と酸素を作ります。")


def _jsonl_lines(rng: random.Random, i: int) -> tuple[list[bytes], int]:
    """Good records with one hostile line among them; (lines, good records)."""
    good = [json.dumps({"id": f"r{i}-{k}", "title": f"Record {k}", "text": prose(rng, 6)})
            .encode() for k in range(rng.randint(2, 5))]
    bad = rng.choice([
        b'{"id": "x", "text": ',  # truncated
        b'{"id": "big", "n": ' + b"9" * 5000 + b', "text": "a"}',  # int over the digit limit
        b"[" * 5000 + b"]" * 5000,  # nesting too deep
        b'{"id": "s1", "text": "heat \\ud800 moves from hot to cold bodies by conduction"}',
        b'{"id": "s\\udc00", "title": "t\\ud800", "text": "' + prose(rng, 4).encode() + b'"}',
        b'"just a string"',
        b'{"id": "nt", "title": "no text"}',
        b"\xff\xfe\x00garbage\x00",
    ])
    lines = good[:]
    lines.insert(rng.randint(0, len(lines)), bad)
    return lines, len(good)


def _parquet(rows: list[dict]) -> bytes:
    schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string())])
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buf)
    return buf.getvalue()


def make_corpus(root: Path, n: int = 1000, seed: int = 0
                ) -> tuple[dict[str, str], dict[str, int]]:
    """Write the corpus. Returns {relative path: kind} of every path the stage must account
    for, and {path: rows} for record files: how many rows (documents or rejections) the file
    must give at least (every good record, and the bad line's own rejection)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}
    rows: dict[str, int] = {}

    def put(rel: str, data: bytes, kind: str) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        expect[rel] = kind

    makers = []

    def maker(weight: int):
        def wrap(f):
            makers.extend([f] * weight)
            return f
        return wrap

    @maker(6)
    def text(i, d):
        put(f"{d}/doc{i}.txt", prose(rng, rng.randint(6, 30)).encode(), "text")

    @maker(3)
    def markdown(i, d):
        put(f"{d}/doc{i}.md", f"# Topic {i}\n\n{prose(rng, 12)}".encode(), "markdown")

    @maker(2)
    def html(i, d):
        body = "".join(f"<p>{p}</p>" for p in prose(rng, 8).split("\n\n"))
        put(f"{d}/page{i}.html", f"<html><body><h1>T{i}</h1>{body}</body></html>".encode(),
            "html")

    @maker(4)
    def jsonl(i, d):
        lines, good = _jsonl_lines(rng, i)
        put(f"{d}/rec{i}.jsonl", b"\n".join(lines) + b"\n", "jsonl_with_bad_line")
        rows[f"{d}/rec{i}.jsonl"] = good + 1

    @maker(1)
    def jsonl_gz(i, d):
        lines, good = _jsonl_lines(rng, i)
        put(f"{d}/rec{i}.jsonl.gz", gzip.compress(b"\n".join(lines)), "jsonl_gz")
        rows[f"{d}/rec{i}.jsonl.gz"] = good + 1

    @maker(1)
    def json_gz(i, d):
        recs = [{"id": f"j{i}-{k}", "text": prose(rng, 5)} for k in range(2)]
        put(f"{d}/arr{i}.json.gz", gzip.compress(json.dumps(recs).encode()), "json_gz")
        rows[f"{d}/arr{i}.json.gz"] = 2

    @maker(1)
    def json_plain(i, d):
        put(f"{d}/one{i}.json", json.dumps({"id": f"o{i}", "text": prose(rng, 5)}).encode(),
            "json")

    @maker(1)
    def parquet(i, d):
        rows = [{"id": f"p{i}-{k}", "title": None, "text": prose(rng, 5)} for k in range(3)]
        put(f"{d}/tab{i}.parquet", _parquet(rows), "parquet")

    @maker(1)
    def parquet_empty(i, d):
        put(f"{d}/empty{i}.parquet", _parquet([]), "zero_row_parquet")

    @maker(1)
    def blank_jsonl(i, d):
        data = b"\n \n\t\n" * rng.randint(1, 50)
        if rng.random() < 0.5:
            put(f"{d}/blank{i}.jsonl", data, "blank_jsonl")
        else:
            put(f"{d}/blank{i}.jsonl.gz", gzip.compress(data), "blank_jsonl_gz")

    @maker(1)
    def empty(i, d):
        put(f"{d}/empty{i}.txt", b"", "empty")

    @maker(1)
    def binary(i, d):
        put(f"{d}/bin{i}.txt", rng.randbytes(rng.randint(100, 5000)), "binary")

    @maker(1)
    def unsupported(i, d):
        put(f"{d}/thing{i}.xyz", prose(rng, 3).encode(), "unsupported")

    @maker(1)
    def corrupt_gzip(i, d):
        put(f"{d}/bad{i}.jsonl.gz", b"\x1f\x8b\x08\x00" + rng.randbytes(200), "corrupt_gzip")

    @maker(1)
    def corrupt_binary_formats(i, d):
        ext = rng.choice(["pdf", "docx", "parquet"])
        put(f"{d}/broken{i}.{ext}", rng.randbytes(300), f"corrupt_{ext}")

    @maker(1)
    def japanese(i, d):
        enc = rng.choice(["shift_jis", "euc_jp"])
        put(f"{d}/ja{i}_{enc}.txt", (JAPANESE * rng.randint(1, 4)).encode(enc), enc)

    @maker(1)
    def utf16(i, d):
        enc = rng.choice(["utf-16-le", "utf-16-be"])
        put(f"{d}/u16_{i}.txt", prose(rng, 8).encode(enc), "utf16_no_bom")

    @maker(1)
    def nearly_utf8(i, d):
        body = ("Café au lait, naïve résumé: " + prose(rng, 6)).encode()
        cut = rng.randint(5, len(body) - 5)
        put(f"{d}/stray{i}.txt", body[:cut] + b" \xe9 " + body[cut:] + b" \xe8", "stray_bytes")

    @maker(1)
    def no_spaces(i, d):
        put(f"{d}/run{i}.txt", b"a" * rng.randint(40_000, 120_000), "no_spaces")

    @maker(1)
    def fifo(i, d):
        p = root / d / f"pipe{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(p)
        expect[f"{d}/pipe{i}.txt"] = "fifo"

    @maker(1)
    def links(i, d):
        base = root / d
        base.mkdir(parents=True, exist_ok=True)
        choice = rng.randrange(4)
        if choice == 0:
            os.symlink(f"missing{i}.txt", base / f"dangling{i}.txt")
            expect[f"{d}/dangling{i}.txt"] = "dangling_symlink"
        elif choice == 1:
            os.symlink(f"loopb{i}.txt", base / f"loopa{i}.txt")
            os.symlink(f"loopa{i}.txt", base / f"loopb{i}.txt")
            expect[f"{d}/loopa{i}.txt"] = expect[f"{d}/loopb{i}.txt"] = "file_link_loop"
        elif choice == 2:
            os.symlink(f"self{i}.txt", base / f"self{i}.txt")
            expect[f"{d}/self{i}.txt"] = "file_link_self"
        else:
            put(f"{d}/target{i}.txt", prose(rng, 6).encode(), "text")
            # read once, under the name that sorts first; the link is the duplicate
            os.symlink(f"target{i}.txt", base / f"target{i}_link.txt")
            expect[f"{d}/target{i}_link.txt"] = "second_link"

    i = 0
    while len(expect) < n:
        d = f"d{i % 17:02d}"
        rng.choice(makers)(i, d)
        i += 1
    # directory-link loops, and a file name that is not UTF-8
    os.symlink(".", root / "d00" / "s")
    os.symlink("..", root / "d01" / "p")
    expect["d00/s"] = expect["d01/p"] = "dir_link_loop"
    (root / "d02").mkdir(exist_ok=True)
    with open(os.path.join(os.fsencode(root / "d02"), b"name\xff\xfe.txt"), "wb") as f:
        f.write(prose(rng, 4).encode())
    expect["d02/name\ufffd\ufffd.txt"] = "undecodable_name"
    if os.geteuid() != 0:  # root reads everything: permission cases only for other users
        put("locked/secret.txt", b"text", "unreadable_file")
        os.chmod(root / "locked" / "secret.txt", 0)
        (root / "closed").mkdir()
        (root / "closed" / "inside.txt").write_text("hidden")
        os.chmod(root / "closed", 0)
        expect["closed"] = "unreadable_dir"
    return expect, rows
