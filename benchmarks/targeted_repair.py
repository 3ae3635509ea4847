"""The repair claim on a hand-built knowledge core, where it should hold: targeted vs blind.

    python benchmarks/targeted_repair.py [--steps 16] [--workspace DIR]

A core of 24 invented concepts (made-up words, so no model has read them) and 80 invented
filler facts. The student (the bundled Gemma 3 270M, LoRA) is trained in round 1 on filler
only, so it provably lacks the planted concepts; the real bench stage asks about each concept
twice (definition -> term and term -> definition), one item in ``dev``, the other in
``test``. The real debugger patches the failed dev items' concepts and draws the blind
control from the whole core; both arms train from the same base with the same steps. On
``test`` — items no patch saw, on the repaired nodes — the targeted student should beat the
blind one. Both scoring modes a sub-billion model can be read by: letters (loglikelihood)
and cloze (each option's text after the question alone). Prints a table, writes
``results/targeted_repair.json``. Not a unit test: on 2 CPU cores the three LoRA trainings
take about 20 minutes, and at the steps that fit a test the 270M student memorises its
patches (training loss 0.01) without yet answering the other direction reliably.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from proda_ray import schema
from proda_ray.ids import content_hash, make_id
from proda_ray.workspace.stage import Stage, StageContext, StageResult

DISC, DOMAIN = "099", "Xenobiology"
PLANTED = {  # invented, opaque terms and what they mean (written for this test)
    "vorplex": "a hollow desert crystal that slowly stores static charge from sandstorms",
    "quandrite": "a pale lichen that grows only on the north face of basalt cliffs",
    "pantrel": "a river fish that hums at dusk to warn its shoal of herons",
    "tazzle": "a seed pod that bursts open when struck by the first autumn hail",
    "brisquel": "a creeping vine whose sap turns blue when touched by moonlight",
    "skerrow": "a burrowing beetle that seals its tunnels with chewed clay pellets",
    "ombrith": "a cave moss that glows faintly after absorbing warm groundwater",
    "calvane": "a migrating moth that navigates by the smell of distant pine resin",
    "frellik": "a porous rock that floats on brine lakes during the dry season",
    "drevosk": "a small flying mammal that eats copper flakes from mountain streams",
    "hovenat": "a tuber that walks short distances by curling its side shoots",
    "jaskott": "a young tree frog whose skin copies the colour of nearby bark",
    "kelmond": "a tidal worm that builds spiral towers from crushed shell grit",
    "lurrow": "a night songbird that nests inside the hollow stems of giant reeds",
    "murtane": "a brown seaweed that releases bubbles of sweet gas at low tide",
    "nestovar": "a hedgehog whose spines shed pollen onto every flower it passes",
    "orvanel": "a green mineral that cracks loudly when heated by the noon sun",
    "pelvondo": "an insect that stands motionless on fence posts to mimic a splinter",
    "rubrel": "a thorny shrub that drops its leaves whenever wild goats approach",
    "sabrette": "a dark butterfly that drinks salt from the eyes of sleeping deer",
    "thoskel": "a mushroom that pierces fallen logs with hard spiral ridges",
    "umbrane": "a wild cat that buries surplus prey under heaps of dry leaves",
    "wiskadel": "a fern whose fronds curl shut at the faintest sound of rain",
    "yarvost": "a mountain goat that sharpens its horns against sheets of ice",
}
FILLER = [(f"the zembral colony {k}", "feeds on", f"grey spores of type {k} near warm vents")
          for k in range(80)]


def _rows() -> dict[str, list[dict]]:
    planted_doc, filler_doc = "doc-planted", "doc-filler"
    terms = sorted(PLANTED)
    chunks, mentions, concepts = [], [], []
    for k in range(len(terms)):  # a glossary line per chunk: each concept its own cluster
        text = f"{terms[k]}: {PLANTED[terms[k]]}"
        cid = f"chunk-planted{k:02d}"
        chunks.append({"chunk_id": cid, "doc_id": planted_doc, "text": text})
        for t in terms[k:k + 1]:
            mentions.append({"term": t, "definition": PLANTED[t], "source_quote":
                             f"{t}: {PLANTED[t]}", "origin": "glossary", "statement_ids": [],
                             "chunk_id": cid, "doc_id": planted_doc, "discipline_code": DISC})
            concepts.append({"concept_id": make_id("concept", t), "term": t, "aliases": [],
                             "type": "entity", "definition": PLANTED[t], "statement_ids": [],
                             "discipline_codes": [DISC]})
    statements, samples = [], []
    for k, (s, p, o) in enumerate(FILLER):
        sent = f"{s[:1].upper()}{s[1:]} {p} {o}."
        cid = f"chunk-filler{k // 8:02d}"
        if k % 8 == 0:
            chunks.append({"chunk_id": cid, "doc_id": filler_doc, "text": ""})
        chunk = next(c for c in chunks if c["chunk_id"] == cid)
        start = len(chunk["text"]) + (1 if chunk["text"] else 0)
        chunk["text"] = (chunk["text"] + " " + sent).strip()
        sid = make_id("stmt", sent)
        statements.append({"statement_id": sid, "chunk_id": cid, "doc_id": filler_doc,
                           "discipline_code": DISC, "subject": s, "predicate": p, "object": o,
                           "source_quote": sent, "quote_char_start": start,
                           "quote_char_end": start + len(sent), "grounding": "exact",
                           "origin": "relation_parse", "concept_ids": []})
        if k < 40:  # round 1 trains on filler only: the planted concepts stay unknown
            samples.append({"sample_id": make_id("sft", sent), "dataset": "sft_v1",
                            "task_type": "qa", "generator": "template",
                            "prompt": f"In {DOMAIN}, what does {s} {p}?", "response": sent,
                            "statement_ids": [sid], "concept_ids": [],
                            "discipline_code": DISC})
    for i, c in enumerate(chunks):
        c.update(chunk_index=i, char_start=0, char_end=len(c["text"]), section_path=[DOMAIN],
                 n_tokens=len(c["text"].split()), n_words=len(c["text"].split()),
                 content_hash=content_hash(c["text"]), quality_score=1.0,
                 quality_signals_json="{}", source_path="planted", discipline_code=DISC,
                 discipline=DOMAIN, title=DOMAIN)
    docs = [{"doc_id": d, "source_path": "planted", "format": "text", "text": "\n".join(
        c["text"] for c in chunks if c["doc_id"] == d), "n_chars": 1, "n_words": 1,
        "content_hash": content_hash(d), "discipline_code": DISC, "discipline": DOMAIN,
        "title": DOMAIN} for d in (planted_doc, filler_doc)]
    return {"documents": docs, "chunks": chunks, "chains": [], "statements": statements,
            "concepts": concepts, "concept_mentions": mentions, "sft_samples": samples}


class CoreConfig(BaseModel):
    version: int = 1


class HandBuiltCore(Stage[CoreConfig]):
    """Writes the hand-built core as the tables spec/extract/merge/build would."""

    name = "core"
    config_model = CoreConfig
    inputs = ()
    outputs = ("documents", "chunks", "chains", "statements", "concepts", "concept_mentions",
               "sft_samples")
    code_modules = ()

    def run(self, ctx: StageContext) -> StageResult:
        res = StageResult()
        for name, rows in _rows().items():
            ctx.write_table(name, pa.Table.from_pylist(rows, schema=schema.TABLES[name]))
            res.outputs[name] = ctx.table_info(name)
        return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=16, help="LoRA steps of each round-2 arm")
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                         "targeted_repair.json"))
    args = ap.parse_args()

    from proda_ray.compile.config import load_preset
    from proda_ray.compile.stage import TrainStage
    from proda_ray.debugger.config import DebugConfig
    from proda_ray.debugger.stage import DebugStage
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.evaluate.stage import EvalStage
    from proda_ray.runtime import ensure_ray
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import Workspace, run_stage

    t_all = time.perf_counter()
    ensure_ray(None)
    ws = Workspace(args.workspace or tempfile.mkdtemp(prefix="repair-"))
    run_stage(ws, HandBuiltCore(CoreConfig()), show_progress=False)
    bench = run_stage(ws, BenchStage(BenchConfig(
        kinds=["definition_match", "term_match"], test_fraction=0.5, transfer_fraction=0,
        reference_items=False, validity="report")),  # 48 items: the gate's margin is noise
        show_progress=False)
    splits = bench.manifest.report["splits"]
    train = load_preset("cpu-gemma-270m").model_copy(update={
        "num_workers": 1, "strategy": "ddp", "val_fraction": 0.0, "micro_batch_size": 4,
        "grad_accum": 1, "max_seq_len": 128, "learning_rate": 1e-3, "checkpoint_every": 1000,
        "val_every": 1000})
    train.lora.r, train.lora.alpha = 16, 32
    # round 1: two steps on filler only, so the student provably lacks the planted concepts
    run_stage(ws, TrainStage(train.model_copy(update={"max_steps": 2})), show_progress=False)
    letters = EvalConfig(model="trained", workers=1, scoring="loglikelihood")
    run_stage(ws, EvalStage(letters), show_progress=False)
    dbg = run_stage(ws, DebugStage(DebugConfig(probe=False, replay_ratio=0.8)),
                    show_progress=False).manifest
    steps = train.model_copy(update={"max_steps": args.steps})
    losses = {}
    for arm in (None, "blind"):
        m = run_stage(ws, TrainStage(steps, round=2, arm=arm), show_progress=False).manifest
        losses[arm or "targeted"] = [m.report.get("first_loss"), m.report.get("last_loss")]
    rows = {}
    for name, ev in (("letters", letters), ("cloze", letters.model_copy(
            update={"scoring": "cloze"}))):
        r1 = run_stage(ws, EvalStage(ev), show_progress=False, force=True).manifest.report
        tg = run_stage(ws, EvalStage(ev, round=2), show_progress=False, force=True
                       ).manifest.report
        bl = run_stage(ws, EvalStage(ev, round=2, arm="blind"), show_progress=False,
                       force=True).manifest.report
        rows[name] = {"round1": r1["overall"], "targeted": tg["overall"],
                      "blind": bl["overall"], "targeted_vs_blind": bl["vs_targeted"]}
    print(f"\nbench {splits}; {dbg.report['failed']} failed dev items -> "
          f"{dbg.counters['patches']} patches, blind {dbg.report['blind']}; losses {losses}")
    print("\n| scoring | split | round 1 | blind | targeted | targeted − blind [95% CI] |")
    print("|---|---|---:|---:|---:|---|")
    for name, r in rows.items():
        for s in ("dev", "test"):
            c = r["targeted_vs_blind"][s]
            print(f"| {name} | {s} | {100 * r['round1'][s]['accuracy']:.1f} | "
                  f"{100 * c['before']:.1f} | {100 * c['after']:.1f} | "
                  f"{100 * c['diff']:+.1f} [{100 * c['diff_ci'][0]:+.1f}, "
                  f"{100 * c['diff_ci'][1]:+.1f}] |")
    out = {"command": "python benchmarks/targeted_repair.py " + " ".join(sys.argv[1:]),
           "steps": args.steps, "splits": splits, "debug": dbg.report, "losses": losses,
           "results": rows, "total_s": round(time.perf_counter() - t_all, 1)}
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
