"""A hand-built knowledge core where targeted repair must win: invented concepts no model has
read, and filler facts that share no node with them.

48 opaque, made-up terms (24 by default) with invented definitions (written for these tests;
no corpus text) and 80 invented filler facts. Round 1 of a loop over this core trains on
filler only, so the student provably lacks the planted concepts; the bench stage asks about
each concept both ways (``definition_match`` and ``term_match``), one item in ``dev`` and one
in ``test``.
Used by ``tests/test_targeted_repair.py`` and ``benchmarks/targeted_repair.py``.
"""

from __future__ import annotations

import os

import pyarrow as pa
from pydantic import BaseModel, Field

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
    "zindral": "a marsh reed that bends toward the loudest frog in the pond",
    "abrosk": "a sand lizard that stores rainwater in pouches along its tail",
    "belquin": "a cliff swallow that lines its nest with shed snake skin",
    "corvane": "a white clay that turns soft and sticky under starlight",
    "dulmek": "a burrowing owl that hoards shiny pebbles in abandoned dens",
    "estrove": "a climbing rose whose thorns point downward to stop snails",
    "fenwisk": "a pond snail that carries tiny stones on its shell as armour",
    "gorlat": "a slow tortoise that eats only fallen cactus flowers",
    "hesprin": "a sea spider that weaves nets between floating kelp fronds",
    "ilvane": "a red algae that freezes into thin sheets on winter puddles",
    "jorvask": "a shaggy ox that sheds its coat in a single piece each spring",
    "kestrom": "a rooftop moss that falls off in clumps before a thunderstorm",
    "lomvar": "a cave bat that finds water by listening for dripping echoes",
    "mirrolin": "a glassy beetle whose wing cases reflect the noon sky",
    "nubrak": "a hill pony that digs for salt with its front hooves",
    "ospreth": "a lake eel that sleeps coiled inside sunken tree stumps",
    "plendor": "a meadow grass whose seeds stick to the wool of passing sheep",
    "quillark": "a spiny anteater that rolls downhill to escape wolves",
    "rossomel": "a sweet berry that ripens only after three nights of frost",
    "strunak": "a marsh bird that fishes by stirring mud with one foot",
    "tovrel": "a desert shrub that sheds its bark to release stored water",
    "ulvane": "a sea star that pries open clams during the ebbing tide",
    "vendrik": "a field mouse that plants acorns in neat rows before winter",
    "wollup": "a woolly caterpillar that spins silk tents on birch branches",
}
# the rest of the core: facts no item asks about. A real core holds far more nodes than
# fail; with 80 of them beside 48 concepts the blind draw hit 19 of the 48 concepts, and
# targeted - blind measured which 19 it drew (+22.9 and -2.1 points on test, from two
# wordings of the filler facts' template)
FILLER = [(f"the zembral colony {k}", "feeds on", f"grey spores of type {k} near warm vents")
          for k in range(400)]


def _rows(n_concepts: int = 24) -> dict[str, list[dict]]:
    planted_doc, filler_doc = "doc-planted", "doc-filler"
    terms = sorted(PLANTED)[:n_concepts]
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
    concepts: int = Field(default=24, ge=4, le=len(PLANTED), description="planted concepts")


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
        for name, rows in _rows(self.config.concepts).items():
            ctx.write_table(name, pa.Table.from_pylist(rows, schema=schema.TABLES[name]))
            res.outputs[name] = ctx.table_info(name)
        return res


def run_repair(ws, steps: int, concepts: int = 24, modes: tuple[str, ...] = ("cloze",)) -> dict:
    """The whole repair experiment on the hand-built core in workspace ``ws``, with the real
    stages: bench (each concept asked both ways, one item in ``dev``, one in ``test``) ->
    round 1 (two LoRA steps on filler only) -> eval (scoring ``modes[0]``) -> debug (dev
    failures -> patches, and the blind control) -> the targeted and the blind student from
    the same base with ``steps`` steps each -> eval of round 1 and both arms in every mode.
    Returns the splits, the debug report, the losses and per mode the three models' overall
    accuracy and the paired targeted − blind comparison."""
    from proda_ray.compile.config import load_preset
    from proda_ray.compile.stage import TrainStage
    from proda_ray.debugger.config import DebugConfig
    from proda_ray.debugger.stage import DebugStage
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.evaluate.stage import EvalStage
    from proda_ray.tester.config import BenchConfig
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import run_stage

    def run(stage, **kw):
        return run_stage(ws, stage, show_progress=False, **kw).manifest

    run(HandBuiltCore(CoreConfig(concepts=concepts)))
    bench = run(BenchStage(BenchConfig(
        kinds=["definition_match", "term_match"], test_fraction=0.5, transfer_fraction=0,
        reference_items=False, validity="report")))  # few items: the gate's margin is noise
    cpus = min(2, os.cpu_count() or 1)  # one trainer or engine at a time: both cores
    train = load_preset("cpu-gemma-270m").model_copy(update={
        "num_workers": 1, "cpus_per_worker": cpus, "strategy": "ddp", "val_fraction": 0.0,
        "micro_batch_size": 4,
        "grad_accum": 1, "max_seq_len": 128, "learning_rate": 1e-3, "checkpoint_every": 1000,
        "val_every": 1000})
    train.lora.r, train.lora.alpha = 16, 32
    # round 1: two steps on filler only, so the student provably lacks the planted concepts
    r1 = run(TrainStage(train.model_copy(update={"max_steps": 2})))
    scoring = {"letters": "loglikelihood", "cloze": "cloze"}
    evs = {m: EvalConfig(model="trained", workers=1, cpus_per_worker=cpus, scoring=scoring[m])
           for m in modes}
    run(EvalStage(evs[modes[0]]))
    dbg = run(DebugStage(DebugConfig(probe=False, replay_ratio=0.8)))
    armed = train.model_copy(update={"max_steps": steps})
    losses = {"round 1": [r1.report.get("first_loss"), r1.report.get("last_loss")]}
    for arm in (None, "blind"):
        m = run(TrainStage(armed, round=2, arm=arm))
        losses[arm or "targeted"] = [m.report.get("first_loss"), m.report.get("last_loss")]
    results = {}
    for mode, ev in evs.items():
        first = run(EvalStage(ev), force=mode != modes[0]).report
        tg = run(EvalStage(ev, round=2), force=True).report
        bl = run(EvalStage(ev, round=2, arm="blind"), force=True).report
        results[mode] = {"round1": first["overall"], "targeted": tg["overall"],
                         "blind": bl["overall"], "targeted_vs_blind": bl["vs_targeted"]}
    return {"splits": bench.report["splits"], "debug": dbg.report,
            "patches": dbg.counters.get("patches"), "losses": losses, "results": results}
