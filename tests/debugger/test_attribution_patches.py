"""The Debugger's logic on a hand-built knowledge core where the failing nodes are known."""

from __future__ import annotations

import json

from proda_ray.builder.decontam import Decontaminator
from proda_ray.builder.templates import claim
from proda_ray.debugger import attribution, patches, probes

# Two chains. c1: s1 (k1, k2) -> s2 (k2); c2: s3 (k3) -> s4 (k4) -> s5 (k3).
S = {
    "s1": ("sunlight", "warms", "the ocean surface", ["k1", "k2"], "c1", 0),
    "s2": ("the ocean surface", "releases", "water vapour", ["k2"], "c1", 1),
    "s3": ("water vapour", "cools into", "cloud droplets", ["k3"], "c2", 0),
    "s4": ("cloud droplets", "merge into", "raindrops", ["k4"], "c2", 1),
    "s5": ("raindrops", "fall as", "precipitation", ["k3"], "c2", 2),
}
STMTS = {k: {"statement_id": k, "subject": a, "predicate": b, "object": c, "concept_ids": cs,
             "chain_id": ch, "step_index": i, "source_quote": f"Quote: {a} {b} {c}.",
             "discipline_code": "002", "domain": "the water cycle"}
         for k, (a, b, c, cs, ch, i) in S.items()}
CHAINS = {"c1": {"chain_id": "c1", "statement_ids": ["s1", "s2"]},
          "c2": {"chain_id": "c2", "statement_ids": ["s3", "s4", "s5"]}}
CONCEPTS = {f"k{i}": {"concept_id": f"k{i}", "term": t, "definition": d,
                      "statement_ids": [s for s, v in S.items() if f"k{i}" in v[3]]}
            for i, (t, d) in enumerate([("insolation", "solar energy received per area"),
                                        ("evaporation", "liquid water turning into vapour"),
                                        ("condensation", "vapour turning into liquid"),
                                        ("coalescence", "droplets merging into larger drops")],
                                       1)}


def pred(i, chain, stmts, concepts, correct):
    return {"item_id": f"item-{i}", "chain_id": chain, "statement_ids": stmts,
            "concept_ids": concepts, "correct": correct, "split": "dev",
            "discipline_code": "002"}


PREDS = [pred(1, "c1", ["s1"], ["k1"], False), pred(2, "c1", ["s2"], ["k2"], False),
         pred(3, "c2", ["s3"], ["k3"], True), pred(4, "c2", ["s4"], ["k4"], False)]


def test_attribution_ranks_the_known_failing_nodes():
    rows = {(r["node_kind"], r["node_id"]): r
            for r in attribution.node_failures(PREDS, CHAINS, STMTS)}
    assert rows[("chain", "c1")]["failed"] == 2 and rows[("chain", "c1")]["failure_rate"] == 1
    assert rows[("chain", "c2")]["failed"] == 1 and rows[("chain", "c2")]["items"] == 2
    # s1 is named by item 1 only, but linked to item 2 through chain c1
    assert rows[("statement", "s1")]["direct_items"] == 1
    assert rows[("statement", "s1")]["items"] == 2 and rows[("statement", "s1")]["failed"] == 2
    assert rows[("statement", "s3")]["direct_failed"] == 0
    assert rows[("statement", "s3")]["failed_item_ids"] == ["item-4"]  # chain-linked only
    assert rows[("concept", "k2")]["failed"] == 2
    ranked = attribution.node_failures(PREDS, CHAINS, STMTS)
    assert ranked[0]["node_id"] == "c1" and ranked[0]["rank"] == 1
    assert {r["node_id"] for r in ranked if r["direct_failed"] == 0} >= {"s3", "k3", "s5"}


def test_probes_come_from_node_texts_and_classify_with_evidence():
    plist = probes.build_probes({"statement": {"s1", "s4"}, "concept": {"k1"}}, STMTS,
                                CONCEPTS)
    assert {p["node_id"] for p in plist} == {"s1", "s4", "k1"}
    for p in plist:
        assert len(p["options"]) == 4 and len(set(p["options"])) == 4
        gold = p["options"]["ABCD".index(p["answer"])]
        assert gold in (claim(STMTS.get(p["node_id"], {"subject": "x", "predicate": "y",
                                                        "object": "z"})),
                        CONCEPTS.get(p["node_id"], {}).get("definition"))
    nodes = attribution.item_nodes(PREDS[0], CHAINS, STMTS)
    answered = {"s1": {**plist[0], "node_id": "s1", "predicted": "A", "correct": False},
                "k1": {**plist[0], "node_id": "k1", "predicted": "B", "correct": False}}
    label, conf, ev = probes.classify(nodes, answered)
    assert 0 < conf <= 1
    assert label == "concept_gap" and ev["probe_accuracy"] == 0 and len(ev["probes"]) == 2
    json.dumps(ev)  # stored as JSON
    answered = {k: {**v, "correct": True} for k, v in answered.items()}
    assert probes.classify(nodes, answered)[0] == "chain_break"
    assert probes.classify(nodes, {})[0] == "unknown"


def test_patches_are_grounded_and_never_contain_benchmark_text():
    gap = patches.concept_gap_samples(
        [STMTS["s1"]], [CONCEPTS["k1"]], {"s1": "Sunlight warms cloud droplets."},
        {"k1": CONCEPTS["k2"]})
    brk = patches.chain_break_samples([STMTS[s] for s in CHAINS["c2"]["statement_ids"]])
    assert {s["task_type"] for s in gap} >= {"patch_fact", "patch_contrast", "patch_concept"}
    assert {s["task_type"] for s in brk} == {"patch_scaffold", "patch_next_hop", "patch_why"}
    scaffold = next(s for s in brk if s["task_type"] == "patch_scaffold")
    assert scaffold["response"].index("Step 1") < scaffold["response"].index("Step 3")
    assert "cloud droplets merge into raindrops" in scaffold["response"].lower()
    for s in gap + brk:
        assert s["generator"] == "patch" and s["statement_ids"]
        assert all(sid in STMTS for sid in s["statement_ids"])  # resolves to real nodes
    # a benchmark item over the same chain, worded as items are: none of its text leaks
    item = {"item_id": "item-9", "question": "A student follows water from the sea to the "
            "sky and back again. After droplets form in a rising air mass and grow heavier, "
            "which development comes next in this sequence of events?",
            "options": ["The drops evaporate again", "Precipitation reaches the ground",
                        "The air mass warms", "Sunlight heats the ocean"],
            "explanation": "Heavier drops fall as rain once updrafts cannot hold them."}
    verdicts = Decontaminator([item], 13, None).check(gap + brk)
    assert verdicts == [None] * len(gap + brk)


def test_a_concept_gap_teaches_the_concept_both_ways_in_several_wordings():
    k1 = {**CONCEPTS["k1"], "domain": "Earth Science"}
    gap = patches.concept_gap_samples([], [k1], {}, {"k1": CONCEPTS["k2"]})
    by = {s["task_type"]: s for s in gap}
    assert set(by) == {"patch_concept", "patch_define", "patch_name", "patch_use",
                       "patch_compare"}
    assert len({s["sample_id"] for s in gap}) == len(gap)
    # term -> meaning, meaning -> term: the term follows its meaning where it is named
    assert by["patch_define"]["response"].index("insolation") < \
        by["patch_define"]["response"].index("solar energy")
    # the name answers first (what a cloze reader scores right after the question), then
    # the meaning is named
    name = by["patch_name"]["response"]
    assert name.startswith("insolation") and \
        name.lower().index("solar energy") < name.rindex("insolation")
    assert "liquid water turning into vapour" in by["patch_compare"]["response"]
    assert by["patch_compare"]["concept_ids"] == ["k1", "k2"]
    for s in gap:
        text = (s["prompt"] + " " + s["response"]).lower()
        assert "earth science" in text or s["task_type"] == "patch_concept"
        # never an item's framing (tester/closed_book.py words its stems so)
        assert "which of the following" not in text and "this definition" not in text
    # a definition that repeats its term is taught as it is, not turned round
    loose = {"concept_id": "k9", "term": "runoff", "definition": "runoff is water that "
             "flows over land", "domain": "Earth Science"}
    named = {s["task_type"]: s for s in patches.concept_gap_samples([], [loose], {}, {})}
    assert "patch_name" in named and named["patch_name"]["response"] == \
        "runoff. Water that flows over land is called runoff."
    # with no neighbour to contrast, the glossary row does not ask what the term is not
    assert named["patch_concept"]["prompt"] == "What is runoff?"
    assert by["patch_concept"]["prompt"].endswith("and what is it not?")


def test_a_sentence_that_names_its_term_in_passing_is_taught_as_it_is():
    """No "what do we call …" or contrast from a sentence that is not the term's meaning."""
    named = {"concept_id": "k7", "term": "spindle", "domain": "Biology",
             "definition": "During division, fibres called the spindle pull the copies apart."}
    made = {s["task_type"]: s for s in patches.concept_gap_samples([], [named], {}, {})}
    assert set(made) == {"patch_concept", "patch_define"}
    assert made["patch_define"]["response"] == (
        'A Biology textbook introduces "spindle" this way: During division, fibres called the '
        "spindle pull the copies apart.")
    # a meaning that is a clause cannot be asked for by name either
    clause = {"concept_id": "k8", "term": "plasticity", "domain": "Psychology",
              "definition": "other regions of the brain can take over a damaged region's work"}
    made = {s["task_type"] for s in patches.concept_gap_samples([], [clause], {}, {})}
    assert "patch_name" not in made and "patch_use" not in made


def test_neighbours_share_a_context_and_never_cross_disciplines():
    from proda_ray.debugger.stage import _neighbours

    def concept(cid, term, disc):
        return {"concept_id": cid, "term": term, "definition": f"the meaning of {term}",
                "discipline_codes": [disc]}

    concepts = {"a": concept("a", "mitosis", "bio"), "b": concept("b", "meiosis", "bio"),
                "c": concept("c", "syntax", "psy"), "d": concept("d", "lexicon", "psy"),
                "e": concept("e", "histone", "bio")}

    def stmt(sid, cids, chunk, doc):  # standalone statements (no chain), as the miner's L2
        return {"statement_id": sid, "chain_id": None, "chunk_id": chunk, "doc_id": doc,
                "concept_ids": cids}

    stmts = {"s1": stmt("s1", ["a", "b"], "ch1", "d1"),  # one chunk: mitosis and meiosis
             "s2": stmt("s2", ["c"], "ch2", "d2"), "s3": stmt("s3", ["d"], "ch3", "d2"),
             "s4": stmt("s4", ["e"], "ch4", "d3")}
    got = {k: v["concept_id"] for k, v in _neighbours(concepts, stmts).items()}
    assert got["a"] == "b" and got["b"] == "a"   # the same chunk
    assert got["c"] == "d" and got["d"] == "c"   # the same document
    assert "e" not in got                         # alone in its document: no contrast
    # a shared document across disciplines does not make a contrast
    stmts["s4"]["doc_id"] = "d2"
    got = {k: v["concept_id"] for k, v in _neighbours(concepts, stmts).items()}
    assert got.get("e") is None and got["c"] == "d"


def test_probe_options_come_from_the_same_field():
    """A wrong option from another field is refused at sight: it would credit the model."""
    def st(i, disc, obj):
        return {"statement_id": f"p{i}", "subject": "the heated gas", "predicate": "turns into",
                "object": obj, "discipline_code": disc, "domain": disc}

    pool = [st(0, "phys", "a plasma"), st(1, "phys", "a liquid"), st(2, "phys", "a solid"),
            st(3, "phys", "a vapour"), st(4, "bio", "a ribosome"), st(5, "bio", "an enzyme"),
            st(6, "bio", "a histone")]
    probe = probes.statement_probe(pool[0], pool)
    assert not any(w in o for o in probe["options"] for w in ("ribosome", "enzyme", "histone"))
    # too few of its own field: the whole pool
    small = pool[:2] + pool[4:]
    assert probes.statement_probe(small[0], small) is not None


def test_a_statement_cut_from_a_list_is_not_asked_alone():
    """"X involves only A" from "X involves only A, B, and C" misstates the source."""
    cut = {"statement_id": "sx", "subject": "the reaction", "predicate": "needs",
           "object": "heat", "source_quote": "The reaction needs heat, a catalyst, and time.",
           "concept_ids": [], "domain": "Chemistry"}
    whole = {**cut, "statement_id": "sy", "source_quote": "The reaction needs heat."}
    alone = patches.concept_gap_samples([cut], [], {}, {})
    assert [(s["task_type"], s["response"]) for s in alone] == [
        ("patch_fact", "The reaction needs heat, a catalyst, and time.")]
    assert {s["task_type"] for s in patches.concept_gap_samples([whole], [], {}, {})} == {
        "patch_fact", "patch_recall"}
