"""Targeted, grounded patch samples, written from the knowledge core's node texts.

Inputs are the implicated nodes' real texts: statements (subject, predicate, object and the
verbatim ``source_quote``), concept definitions, and for chain breaks the chain's statements
in step order. Never a benchmark item, its options or its answer — the debugger only knows
item *ids* — so a patch cannot teach the test (a test checks this, and decontamination runs
on the result as well).

* concept gap -> knowledge injection: the fact with its quote; a contrast built from the
  model's own wrong probe answer ("False: … The source says …"); the concept's definition,
  both ways ("X: …; … is called X"), next to a neighbour concept's ("what X is and what it
  is not"), and again in other words — the meaning from the term, the term from its
  meaning, the term in use, the term beside its neighbour — so that one gap teaches the
  concept, not one sentence of it.
* chain break -> reasoning scaffolding: the chain's facts as explicit steps ("Step 1: …
  Therefore: …"), one-hop "what follows" questions, and the backward "why" chain.
"""

from __future__ import annotations

import re
from itertools import pairwise

from proda_ray.builder.templates import claim
from proda_ray.ids import make_id


def _quote(s: dict) -> str:
    q = (s.get("source_quote") or "").strip()
    return f' The source says: "{q}"' if q else ""


def _domain(s: dict) -> str:
    return s.get("domain") or "this field"


def _sample(task: str, prompt: str, response: str, stmts: list[dict], concept_ids,
            disc: str | None) -> dict:
    return {"sample_id": make_id("sft", "patch", task, prompt, response), "task_type": task,
            "generator": "patch", "prompt": prompt, "response": response,
            "statement_ids": sorted({s["statement_id"] for s in stmts}),
            "concept_ids": sorted(set(concept_ids)), "discipline_code": disc}


def _definiens(term: str, definition: str) -> str | None:
    """What ``term`` means, without it: a glossary line as it is, a defining sentence ("X is
    …", "X refers to …") from after its verb; None when neither."""
    d = " ".join(definition.split())
    m = re.match(rf"^(?:the |a |an )?{re.escape(term)}\s+(?:is|are|refers? to|"
                 rf"(?:is |are |can be )?(?:defined|described) as)\s+(.+)$", d, re.I)
    if m:
        return m.group(1)
    if re.search(rf"\b{re.escape(term)}\b", d, re.I):
        return None
    return re.sub(r"^(?:is|are)\s+", "", d, flags=re.I)  # "term: is not having …"


# what follows an object that the source goes on with: one item of a list (": the working
# class, …", ", lone pairs of electrons, and …", " and …"), or a noun whose restrictive
# clause the statement dropped ("the rate | at which work is done", "the only method of
# heat transfer | where no medium is required")
_LIST_GOES_ON = re.compile(
    r"^\)?\s*(?::|\s(?:and|or|as well as)\s|,\s+(?!which|who|whose|where|when|but|while|so|"
    r"although|because)[^,.;:]{1,60}?,?\s+(?:and|or)\s|\s(?:(?:at|in|by|of|for|to|from|"
    r"through|on|with) )?(?:which|whom|whose|where|that)\s)", re.I)


def _cut_short(s: dict) -> bool:
    """The statement keeps part of what its source says and so misstates it: one item of a
    list the sentence goes on with ("Hybridization involves only σ bonds" from "… only σ
    bonds, lone pairs of electrons, and single unpaired electrons"), or a noun without the
    clause that restricts it ("Power is rate" from "Power is the rate at which work is
    done")."""
    quote, obj = (s.get("source_quote") or ""), (s.get("object") or "").strip()
    at = quote.lower().find(obj.lower()) if obj else -1
    return at >= 0 and bool(_LIST_GOES_ON.match(quote[at + len(obj):]))


def _nameable(means: str) -> bool:
    """A meaning that reads as what something *is* (a noun phrase, an activity: "the value
    of goods …", "continually using an old solution …"), not a clause ("some parts of the
    brain can take over …") or a sentence about the term: only such a meaning can be asked
    for ("what do we call …?") or set beside another's ("X is …, whereas Y is …")."""
    from proda_ray.knowledge.text import nlp

    doc = nlp()(means)
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None or doc[0].pos_ in ("AUX", "ADP", "SCONJ", "PRON"):
        return False
    if root.pos_ in ("NOUN", "PROPN", "NUM", "ADJ") or doc[0].lower_ in ("a", "an"):
        return True  # "a climbing rose whose thorns …" (which the small parser misreads)
    # a participle phrase, or a noun with one ("solar energy received at …", "liquid water
    # turning into vapour", "using an old solution …"): no finite verb, no auxiliary
    return root.tag_ in ("VBG", "VBN") and not any(
        c.dep_ in ("aux", "auxpass") for c in root.children)


def concept_gap_samples(stmts: list[dict], concepts: list[dict], wrong: dict[str, str],
                        neighbours: dict[str, dict]) -> list[dict]:
    """Knowledge injection for the statements and concepts a failed item rests on.

    ``wrong``: statement id -> the false claim the model picked in its probe (if it erred);
    ``neighbours``: concept id -> another concept of the same chunk/discipline to contrast."""
    out = []
    for s in stmts:
        d, disc, cids = _domain(s), s.get("discipline_code"), s.get("concept_ids") or []
        if _cut_short(s):  # the whole sentence, as the source says it; no question on a part
            quote = (s.get("source_quote") or "").strip()
            if quote:
                out.append(_sample("patch_fact", f"In {d}, what does the source say about "
                                   f"{s['subject'].strip()}?", quote, [s], cids, disc))
            continue
        out.append(_sample(
            "patch_fact", f"In {d}, complete the statement and quote the source: "
            f"\"{s['subject'].strip()} {s['predicate'].strip()} …\"",
            claim(s) + _quote(s), [s], cids, disc))
        if s["statement_id"] in wrong:
            out.append(_sample(
                "patch_contrast", f"True or false, in {d}: {wrong[s['statement_id']]}",
                f"False. {claim(s)}{_quote(s)}", [s], cids, disc))
        out.append(_sample(
            "patch_recall", f"In {d}, what {s['predicate'].strip()} {s['object'].strip()}?",
            f"{s['subject'].strip()[:1].upper()}{s['subject'].strip()[1:]}. {claim(s)}",
            [s], cids, disc))
    for c in concepts:
        d = (c.get("definition") or "").strip()
        if not d:
            continue
        own = [s for s in stmts if c["concept_id"] in (s.get("concept_ids") or [])
               and not _cut_short(s)]
        facts = " ".join(claim(s) for s in own[:2])
        n = neighbours.get(c["concept_id"])
        other = _neighbour_meaning(n)
        contrast = f" It is not {n['term']}: {n['term']} is {other}." if other else ""
        disc = own[0].get("discipline_code") if own else None
        # the definition both ways, as a textbook states it ("... is called X"): knowing a
        # term means recognising it from what it means, too
        means = _definiens(c["term"], d)
        means = means if means and _nameable(means) else None
        called = f" {means[:1].upper()}{means[1:].rstrip('.')} is called {c['term']}." \
            if means else ""
        out.append(_sample(
            "patch_concept", f"What is {c['term']}" + (", and what is it not?" if contrast
                                                        else "?"),
            f"{c['term']}: {d.rstrip('.')}.{called}{contrast}" + (f" Key facts: {facts}"
                                                                  if facts else ""),
            own, [c["concept_id"]], disc))
        out += _concept_variants(c, d, means, n, other, own, disc)
    return out


def _concept_variants(c: dict, definition: str, means: str | None, neighbour: dict | None,
                      other: str | None, own: list[dict], disc: str | None) -> list[dict]:
    """The same definition taught in other words and both directions — the meaning from the
    term, the term from its meaning, the term beside a neighbour's — so a small model learns
    the concept rather than one sentence of it. Never an item's framing: no "which of the
    following", no "which term has this definition", no options."""
    term, field = c["term"].strip(), c.get("domain") or (own[0].get("domain") if own
                                                          else None) or "this field"
    meaning = (means or definition).strip().rstrip(".")
    lower = meaning[:1].lower() + meaning[1:]
    upper = meaning[:1].upper() + meaning[1:]
    # worded away from the items' stems: MiniLM puts "In X, what does the word T mean?" at
    # 0.96 of a definition_match stem, and decontamination rightly drops it
    if not means:  # the sentence names the term in passing: taught as the textbook says it
        return [_sample("patch_define", f"Describe {term}, as a {field} textbook would.",
                        f"A {field} textbook introduces \"{term}\" this way: {upper}.",
                        own, [c["concept_id"]], disc)]
    out = [_sample("patch_define", f"Describe {term}, as a {field} textbook would.",
                   f"In {field}, \"{term}\" means {lower}.", own, [c["concept_id"]], disc),
           _sample("patch_name", f"In {field}, what do we call {lower}?",
                   f"{term}. {upper} is called {term}.", own, [c["concept_id"]], disc),
           _sample("patch_use", f"Write one sentence that uses the {field} term "
                   f"\"{term}\" correctly.",
                   f"When a text in {field} speaks of {lower}, the term it uses is {term}.",
                   own, [c["concept_id"]], disc)]
    if other:  # the neighbour's meaning, parsed once by the caller
        out.append(_sample("patch_compare", f"In {field}, how do {term} and "
                           f"{neighbour['term'].strip()} differ?",
                           f"{term} is {lower}, whereas {neighbour['term'].strip()} is "
                           f"{other}.", own, [c["concept_id"], neighbour["concept_id"]], disc))
    return out


def _neighbour_meaning(n: dict | None) -> str | None:
    """A neighbour concept's meaning, lower-cased, when it reads as what the term is."""
    means = _definiens(n["term"], (n.get("definition") or "").strip()) if n else None
    if not means or not _nameable(means):
        return None
    means = means.strip().rstrip(".")
    return means[:1].lower() + means[1:]


def chain_break_samples(chain_stmts: list[dict]) -> list[dict]:
    """Reasoning scaffolding over a chain's statements in step order (two or more)."""
    stmts = sorted(chain_stmts, key=lambda s: (s.get("step_index") if s.get("step_index")
                                               is not None else 1 << 30, s["statement_id"]))
    if len(stmts) < 2:
        return []
    first, last = stmts[0], stmts[-1]
    d, disc = _domain(first), first.get("discipline_code")
    cids = sorted({c for s in stmts for c in s.get("concept_ids") or []})
    steps = " ".join(f"Step {i}: {claim(s)}" for i, s in enumerate(stmts, 1))
    out = [_sample(
        "patch_scaffold", f"Reason step by step: in {d}, how does "
        f"{first['subject'].strip()} lead to {last['object'].strip()}?",
        f"{steps} Therefore: {first['subject'].strip()} leads, through these steps, to "
        f"{last['object'].strip()}.{_quote(last)}", stmts, cids, disc)]
    for a, b in pairwise(stmts):
        out.append(_sample(
            "patch_next_hop", f"In {d}: {claim(a)} What follows from this, and why?",
            f"{claim(b)} This is the next step because it starts from what the previous step "
            f"produced.{_quote(b)}", [a, b], cids, disc))
    back = " ".join(f"Because {claim(s)[0].lower()}{claim(s)[1:]}" for s in reversed(stmts[:-1]))
    out.append(_sample(
        "patch_why", f"In {d}, why is it that {claim(last)[0].lower()}{claim(last)[1:-1]}? "
        "Trace the reasoning backwards.", f"{claim(last)} {back}", stmts, cids, disc))
    return out


def manifest_row(sample: dict, round_: int, failed_item_ids: list[str], node_ids: list[str],
                 label: str) -> dict:
    return {"patch_id": make_id("patch", str(round_), sample["sample_id"]),
            "sample_id": sample["sample_id"], "round": round_,
            "failed_item_ids": sorted(set(failed_item_ids)), "node_ids": sorted(set(node_ids)),
            "label": label}
