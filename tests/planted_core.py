"""A hand-built knowledge core where targeted repair must win: invented concepts no model has
read, and filler facts that share no node with them.

24 opaque, made-up terms with invented definitions (written for these tests; no corpus text)
and 80 invented filler facts. Round 1 of a loop over this core trains on filler only, so the
student provably lacks the planted concepts; the bench stage asks about each concept both
ways (``definition_match`` and ``term_match``), one item in ``dev`` and one in ``test``.
Used by ``tests/test_targeted_repair.py`` and ``benchmarks/targeted_repair.py``.
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel

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
