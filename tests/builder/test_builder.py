"""Builder templates (property-tested) and decontamination (real MiniLM)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proda_ray.builder.decontam import Decontaminator, ngrams
from proda_ray.builder.templates import generate, plan_counts
from proda_ray.embeddings import MiniLMEmbedder

TERMS = ["water", "vapour", "cloud", "enzyme", "protein", "acid", "base", "light", "force",
         "market price", "demand curve", "magma", "crust", "neuron", "orbit", "gas pressure"]
PREDICATES = ["causes", "produces", "increases", "binds to", "leads to", "releases"]


@st.composite
def core(draw):
    n = draw(st.integers(1, 12))
    concepts = {}
    stmts = []
    for i in range(n):
        s, o = draw(st.lists(st.sampled_from(TERMS), min_size=2, max_size=2, unique=True))
        ids = []
        for term in (s, o):
            cid = f"concept-{TERMS.index(term):016x}"
            concepts.setdefault(cid, {"concept_id": cid, "term": term, "type": "entity",
                                      "definition": draw(st.sampled_from(
                                          ["", f"{term.capitalize()} is a key idea."])),
                                      "statement_ids": []})
            concepts[cid]["statement_ids"].append(f"stmt-{i:016x}")
            ids.append(cid)
        stmts.append({"statement_id": f"stmt-{i:016x}", "chain_id": f"chain-{i % 3:016x}",
                      "subject": s, "predicate": draw(st.sampled_from(PREDICATES)),
                      "object": o, "concept_ids": ids,
                      "discipline_code": draw(st.sampled_from(["001", "006"])),
                      "domain": "Science"})
    return stmts, list(concepts.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kc=core(), seed=st.integers(0, 3), per=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_template_samples_are_valid_linked_and_deterministic(kc, seed, per):
    stmts, concepts = kc
    ratios = {"qa": 0.4, "single_choice": 0.2, "multi_choice": 0.15, "true_false": 0.25}
    a, counters = generate(stmts, concepts, samples_per_statement=per, ratios=ratios,
                           seed=seed)
    b, _ = generate(list(reversed(stmts)), concepts, samples_per_statement=per,
                    ratios=ratios, seed=seed)
    assert a == b  # deterministic, whatever order the rows arrive in
    assert a, counters  # a non-empty core always yields samples (QA applies to any statement)
    known = {s["statement_id"] for s in stmts}
    for x in a:
        assert x["statement_ids"] and set(x["statement_ids"]) <= known
        assert x["prompt"].strip() and x["response"].strip()
        head = x["response"].split("\n\n", 1)[0]
        if x["task_type"] == "true_false":
            assert head in ("A", "B") and "A. True" in x["prompt"]
        elif x["task_type"] == "single_choice":
            assert head in "ABCD" and len(head) == 1
        elif x["task_type"] == "multi_choice":
            letters = head.split(",")
            assert letters == sorted(set(letters)) and set(letters) <= set("ABCD")
    n = max(1, round(per * len(stmts)))
    assert sum(plan_counts(n, ratios).values()) == n


ITEM = {"item_id": "item-0000000000000001", "split": "test",
        "question": "In Earth Science, consider the water cycle. Warm surface water evaporates "
                    "and the vapour rises with warm air, cools as it climbs and condenses into "
                    "droplets that gather as clouds. Which statements about the order are "
                    "correct?",
        "options": ["Event I occurs before event II.", "Event II occurs before event I.",
                    "Event III occurs before event I.", "Event I occurs before event III."],
        "explanation": "In the process the events occur in the order I then II then III: warm "
                       "surface water evaporates, the vapour cools and condenses into clouds."}


def row(prompt, response):
    return {"sample_id": "sft-x", "prompt": prompt, "response": response}


def test_decontamination_drops_copies_and_paraphrases_but_keeps_other_rows():
    d = Decontaminator([ITEM], n=13, threshold=0.92, embedder=MiniLMEmbedder())
    rows = [
        row("Explain the cycle.", ITEM["explanation"]),  # verbatim copy: 13-gram
        row("What happens in the water cycle? " + ITEM["question"].lower(), "Clouds form."),
        row("In Chemistry, what does an acid release in water?",
            "An acid releases hydrogen ions in water."),
    ]
    got = d.check(rows)
    assert got[0][0] == "ngram_overlap" and got[0][1] == ITEM["item_id"]
    assert got[1] is not None  # the question itself, lower-cased inside a longer prompt
    assert got[2] is None
    assert ngrams("a b c", 13) == set()


def test_decontamination_counts_what_is_specific_to_an_item_not_the_corpus_it_quotes():
    definition = ("the movement of water across a selectively permeable membrane toward "
                  "the side with more solute")
    corpus = [f"Osmosis is {definition}.", "Diffusion is the net spread of particles from a "
              "region of high to low concentration."]
    item = {"item_id": "item-1", "question": 'In Biology, which term has this definition: '
            f'"{definition.capitalize()}"?', "options": ["osmosis", "diffusion", "mitosis",
                                                         "meiosis"],
            "explanation": 'The source gives this definition for "osmosis"; the other options '
                           "are terms of the same field that it defines otherwise."}
    false_claim = {"item_id": "item-2", "question": "Which statements are correct?",
                   "options": [f"Diffusion is {definition}.", "a b c d e f",
                               "g h i j k l", "m n o p q r"],
                   "answer": "B", "explanation": ""}
    teach = row("In Biology, what is osmosis?", f"Osmosis is {definition}.")
    framing = row("Quiz.", f"In Biology, which term has this definition: "
                  f'"{definition.capitalize()}"? osmosis')
    wrong = row("True or false?", f"Diffusion is {definition}. True.")
    scoped = Decontaminator([item, false_claim], n=13, threshold=None, corpus=corpus)
    got = scoped.check([teach, framing, wrong])
    assert got[0] is None  # teaching the corpus' definition is what training is for
    assert got[1] is not None and got[1][1] == "item-1"  # the item's framing + its quote
    assert got[2] is not None and got[2][1] == "item-2"  # a written (false) distractor
    # scope "all": every word counts, so the row that teaches the concept is dropped too
    everything = Decontaminator([item, false_claim], n=13, threshold=None)
    assert everything.check([teach])[0] is not None
