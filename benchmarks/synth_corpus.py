"""A synthetic corpus at the paper's scale, made from a real one, with planted duplicates.

    python benchmarks/synth_corpus.py OUT_DIR [--docs 117000] [--seed 0]
                                      [--source '../shared/corpora/openstax/*.jsonl.gz']

Every document is a function of (seed, index) alone, so any file can be regenerated and the
whole corpus is reproducible without storing it:

- **base documents** are mosaics of one discipline's paragraphs: runs of 1-6 consecutive
  paragraphs from random source documents, half of them with their sentences shuffled, and
  4% of their words replaced by other words of the same discipline. Two base documents share
  a paragraph run rarely and never most of their text: they are distinct.
- **exact duplicates** (2%) copy an earlier base document with its case and spacing changed
  (the exact key is case- and whitespace-insensitive).
- **near duplicates** (3%) copy an earlier base document with 0.5-2% of its words edited
  (replaced, dropped or doubled): each edit breaks up to five 5-word shingles, so their
  Jaccard is about 0.82-0.95, above the default 0.8 threshold.
- **related documents** (1%) copy an earlier base document with 8-12% of its words edited:
  Jaccard about 0.3-0.5. They are not duplicates and must be kept (the hard negatives).

Files are JSONL.gz like the OpenStax corpus (id, discipline_code, discipline, book, title,
text), ``docs_per_file`` records each, plus ``truth.jsonl``: one line per planted duplicate
and related document (``{"id", "of", "kind", "edit_rate", "jaccard"}``: ``of`` is the base
document it copies, ``jaccard`` the true shingle Jaccard of an edited copy with it). Source
text is read at run time and never stored in the repository.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import math
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SOURCE = str(Path(__file__).resolve().parents[2] / "shared/corpora/openstax/*.jsonl.gz")
BUNDLED = Path(__file__).resolve().parents[1] / "examples" / "sample_corpus"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass
class Discipline:
    code: str
    name: str
    docs: list[list[str]] = field(default_factory=list)  # source documents' paragraphs
    vocab: list[str] = field(default_factory=list)


@dataclass
class Pool:
    disciplines: list[Discipline]
    weights: list[int]  # paragraphs per discipline: how often each is drawn
    mean_chars: float
    source: str  # what the paragraphs came from


def load_pool(source: str) -> Pool:
    """Paragraphs of every source document, by discipline (the record's discipline fields;
    the bundled sample's files by their name's first word)."""
    by: dict[str, Discipline] = {}
    chars = docs = 0

    def add(code: str, name: str, text: str) -> None:
        nonlocal chars, docs
        paras = [p.strip() for p in text.split("\n\n") if len(p.strip()) >= 40]
        if not paras:
            return
        d = by.setdefault(code, Discipline(code, name))
        d.docs.append(paras)
        chars += len(text)
        docs += 1

    files = sorted(glob.glob(source))
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                add(str(rec.get("discipline_code") or "000"),
                    str(rec.get("discipline") or "unknown"), rec.get("text") or "")
    if not files:  # no shared corpus: the bundled sample's plain-text files, whose names
        # start with their discipline (as the taxonomy names it: the stage then tags them
        # from metadata, as it does OpenStax, instead of embedding every document)
        names = {n.lower().replace(" ", "_"): c for c, n in _taxonomy().items()}
        for p in sorted(BUNDLED.glob("*.*")):
            name = next((n for n in names if p.stem.startswith(n)), None)
            if p.suffix in {".txt", ".md"} and name:
                add(names[name], name.replace("_", " ").title(),
                    p.read_text(encoding="utf-8", errors="replace"))
    if not by:
        raise SystemExit(f"no source text found in {source} or {BUNDLED}")
    for d in by.values():
        words = sorted({w for doc in d.docs for p in doc for w in p.split()
                        if w.isalpha() and len(w) > 3})
        d.vocab = words or ["term"]
    ds = [by[k] for k in sorted(by)]
    return Pool(ds, [sum(len(doc) for doc in d.docs) for d in ds], chars / docs,
                f"{len(files)} files of {source}" if files else f"the bundled {BUNDLED.name}")


def _taxonomy() -> dict[str, str]:
    """code -> name of the spec stage's default taxonomy."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "proda_ray" / "resources" / "taxonomy.yaml"
    return {str(d["code"]): d["name"] for d in yaml.safe_load(path.read_text())}


def _perturb(para: str, d: Discipline, rng: random.Random) -> str:
    if rng.random() < 0.5:
        sents = _SENTENCE_END.split(para)
        rng.shuffle(sents)
        para = " ".join(sents)
    words = para.split(" ")
    for _ in range(max(1, round(0.04 * len(words)))):
        words[rng.randrange(len(words))] = rng.choice(d.vocab)
    return " ".join(words)


def base_doc(pool: Pool, seed: int, i: int) -> tuple[Discipline, str]:
    rng = random.Random(f"{seed}:{i}")
    d = rng.choices(pool.disciplines, weights=pool.weights)[0]
    target = min(80_000, max(2_000, rng.lognormvariate(math.log(pool.mean_chars) - 0.18, 0.6)))
    paras, n = [], 0
    while n < target:
        doc = rng.choice(d.docs)
        start = rng.randrange(len(doc))
        for p in doc[start:start + rng.randint(1, 6)]:
            paras.append(_perturb(p, d, rng))
            n += len(paras[-1]) + 2
    return d, "\n\n".join(paras)


def _exact_copy(text: str, rng: random.Random) -> str:
    lines = text.split("\n\n")
    return "\n\n".join(("  " + ln.upper() + " ") if rng.random() < 0.5 else ln.replace(" ", "  ")
                       for ln in lines)


def _edited_copy(text: str, d: Discipline, rng: random.Random, rate: float) -> str:
    words = text.split(" ")
    for _ in range(max(1, round(rate * len(words)))):
        j = rng.randrange(len(words))
        op = rng.random()
        if op < 0.6:
            words[j] = rng.choice(d.vocab)
        elif op < 0.8:
            words[j] = ""
        else:
            words[j] = words[j] + " " + words[j]
    return " ".join(w for w in words if w)


EDIT_RATES = {"near": (0.005, 0.02), "related": (0.08, 0.12)}


_WORD = re.compile(r"\w+")


def jaccard(a: str, b: str, n: int = 5) -> float:
    """True Jaccard of two texts' lower-cased ``n``-word shingles (words: ``\\w+`` runs, as
    the spec stage's MinHash reads them), by plain sets: what MinHash estimates."""
    def shingles(t: str) -> set:
        w = _WORD.findall(t.lower())
        return {tuple(w[i:i + n]) for i in range(max(1, len(w) - n + 1))}

    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y) if x or y else 1.0


def plan(seed: int, docs: int, exact: float = 0.02, near: float = 0.03,
         related: float = 0.01) -> list[tuple]:
    """Per index: ``("base",)`` or ``(kind, index of the base document it copies)``."""
    rng = random.Random(f"{seed}:plan")
    out: list[tuple] = []
    bases: list[int] = []
    for i in range(docs):
        r = rng.random()
        if bases and r < exact:
            out.append(("exact", rng.choice(bases)))
        elif bases and r < exact + near:
            out.append(("near", rng.choice(bases)))
        elif bases and r < exact + near + related:
            out.append(("related", rng.choice(bases)))
        else:
            out.append(("base",))
            bases.append(i)
    return out


def doc_id(i: int) -> str:
    return f"synth/{i:07d}"


def write_corpus(out: str | Path, docs: int, seed: int = 0, source: str = DEFAULT_SOURCE,
                 docs_per_file: int = 1000) -> dict:
    """Writes the corpus and its ``truth.jsonl``; returns counts (documents, characters,
    planted duplicates by kind, files)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pool = load_pool(source)
    steps = plan(seed, docs)
    counts = {"documents": docs, "chars": 0, "exact": 0, "near": 0, "related": 0, "files": 0,
              "source": pool.source, "source_documents": sum(len(d.docs) for d in
                                                            pool.disciplines)}
    with open(out / "truth.jsonl", "w") as truth:
        for start in range(0, docs, docs_per_file):
            name = out / f"part-{start // docs_per_file:05d}.jsonl.gz"
            with gzip.open(name, "wt", encoding="utf-8", compresslevel=1) as f:
                for i in range(start, min(docs, start + docs_per_file)):
                    step = steps[i]
                    d, text = base_doc(pool, seed, step[1] if len(step) > 1 else i)
                    if step[0] != "base":
                        rng = random.Random(f"{seed}:{i}:copy")
                        rate = jac = None
                        if step[0] == "exact":
                            text = _exact_copy(text, rng)
                        else:
                            rate = round(rng.uniform(*EDIT_RATES[step[0]]), 4)
                            copy = _edited_copy(text, d, rng, rate)
                            jac, text = round(jaccard(text, copy), 4), copy
                        truth.write(json.dumps({"id": doc_id(i), "of": doc_id(step[1]),
                                                "kind": step[0], "edit_rate": rate,
                                                "jaccard": jac}) + "\n")
                        counts[step[0]] += 1
                    counts["chars"] += len(text)
                    f.write(json.dumps({"id": doc_id(i), "discipline_code": d.code,
                                        "discipline": d.name, "book": "synthetic",
                                        "title": f"{d.name} {i}", "text": text}) + "\n")
            counts["files"] += 1
    (out / "counts.json").write_text(json.dumps(counts, indent=1))
    return counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=117_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", default=DEFAULT_SOURCE)
    ap.add_argument("--docs-per-file", type=int, default=1000)
    a = ap.parse_args(argv)
    counts = write_corpus(a.out, a.docs, a.seed, a.source, a.docs_per_file)
    json.dump(counts, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
