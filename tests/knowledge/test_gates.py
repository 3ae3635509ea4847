"""Every semantic gate, kept and rejected, on sentences written here and on real passages
read from the shared OpenStax corpus at test time (never copied into the repo)."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from proda_ray.knowledge import gates
from proda_ray.knowledge.miner import definitions, mine, relations
from proda_ray.knowledge.roles import chunk_role
from proda_ray.knowledge.text import Span, parse, sentences
from tests.conftest import OPENSTAX


def _one(sentence: str):
    return Span(0, len(sentence), sentence), parse([sentence])[0]


# --- statements -------------------------------------------------------------------------

def test_statement_kept_when_the_parse_links_subject_verb_object():
    q = "Methanogens reduce carbon dioxide in the presence of hydrogen."
    assert gates.statement_gate("Methanogens", "reduce", "carbon dioxide", q) is None


@pytest.mark.parametrize("s,p,o,reason", [
    ("It", "reduces", "carbon dioxide", "not_noun_phrase"),          # pronoun subject
    ("Methanogens", "produce", "carbon dioxide", "not_verb_phrase"),  # not the quote's verb
    ("Methanogens", "reduce", "hydrogen", "not_the_relation"),        # hydrogen: not the object
    ("Methanogens", "reduce", "Methanogens", "not_noun_phrase"),      # self loop
    ("Methanogens", "reduce", "oxygen", "not_noun_phrase"),           # not in the quote
])
def test_statement_rejections(s, p, o, reason):
    q = "It is known that methanogens reduce carbon dioxide in the presence of hydrogen."
    if s == "Methanogens":
        q = "Methanogens reduce carbon dioxide in the presence of hydrogen."
    assert (gates.statement_gate(s, p, o, q) or "").startswith(reason)


def test_statement_contradicting_its_quote_is_rejected():
    q = "Shock causes an increased heart rate but decreased blood pressure."
    # the old extractor's statement: the object of "causes" read with "decreased"
    assert gates.statement_gate("shock", "decreased", "heart rate", q) is not None
    q2 = "Archaea do not cause disease in humans."
    assert gates.statement_gate("Archaea", "cause", "disease", q2).startswith(
        "contradicts_quote")
    assert gates.statement_gate("Archaea", "do not cause", "disease", q2) is None


def test_relations_of_a_written_sentence():
    rels = relations(*_one("The archaeal cell membrane is composed of ether linkages."))
    assert [(r["subject"], r["predicate"], r["object"]) for r in rels] == [
        ("archaeal cell membrane", "is composed of", "ether linkages")]
    assert relations(*_one("They are composed of ether linkages.")) == []  # pronoun subject


# --- concepts ---------------------------------------------------------------------------

@pytest.mark.parametrize("sentence,term", [
    ("Methane-producing archaea are called methanogens.", "methanogens"),
    ("Some bacteria produce thermostable proteins called affitins.", "affitins"),
    ("Osmosis is the process by which water moves across a semipermeable membrane.",
     "Osmosis"),
    ("Opportunity cost is defined as the value of the next best alternative.",
     "Opportunity cost"),
    ("This change in color is known as a redshift.", "redshift"),
])
def test_definition_patterns_keep_the_term(sentence, term):
    found = definitions(*_one(sentence))
    assert [d["term"] for d in found] == [term]
    d = found[0]
    assert gates.concept_gate(d["term"], d["definition"], d["source_quote"]) is None


@pytest.mark.parametrize("sentence", [
    "This is a problem that many students face.",         # pronoun subject
    "Note that the different structures are not to scale.",
    "The answer is the one that gives the largest value.",  # generic term
    # one side of a comparison is not a name; a reported finding is not a definition; a
    # possessive pronoun is not a term
    "In most surveys, wealth is referred to as a relative rather than fixed quantity.",
    "Surveys indicate that most households own two phones.",
    "Mine is a short history of the valley, from the first farms to today.",
])
def test_non_definitions_give_no_concept(sentence):
    kept = [d for d in definitions(*_one(sentence))
            if gates.concept_gate(d["term"], d["definition"], d["source_quote"]) is None]
    assert kept == []


@pytest.mark.parametrize("term,definition,source,reason", [
    ("Note", "Note that the structures are not to scale.",
     "Note that the structures are not to scale.", "bad_term"),
    ("China", "China_China_China_China_China", "China is a country in Asia.", "junk_text"),
    ("vaccine", "the vaccine carries the pathogen's antigens and more",  # the old prompt's
     "A vaccine carries the pathogen's antigens and more.", "junk_text"),  # example
    ("vaccine", "A vaccine contains a weakened form of a pathogen.",
     "A vaccine contains a weakened form of a pathogen.", None),
    ("star formation", "star formation: https://esahubble.org", "See https://esahubble.org",
     "junk_text"),
    ("enzyme", "An enzyme speeds up a reaction.", "Proteins fold.", "unsupported_definition"),
    ("enzyme", "negaitive_constraints of an enzyme", "An enzyme negaitive_constraints.",
     "junk_text"),
])
def test_concept_gate(term, definition, source, reason):
    got = gates.concept_gate(term, definition, source)
    assert (got is None) if reason is None else got.startswith(reason)


def test_prompt_example_text_is_junk():
    from proda_ray.knowledge.extract import prompt

    example = prompt("l3_chains").split("Passage:\n")[2].split("\n")[0]  # a few-shot passage
    assert gates.junk_text(example).startswith("junk_text: copies the prompt")


# --- chains -----------------------------------------------------------------------------

TEXT = ("Water evaporates from the ocean surface. Then the water vapor rises and cools. "
        "Next, the cooled vapor condenses into droplets. Finally, the droplets fall as rain.")


def test_chain_gate_keeps_connected_steps_and_a_process_name():
    sents = [s.text for s in sentences(TEXT)]
    assert gates.chain_gate(sents, [0, 1, 2, 3], ["", "Then", "Next", "Finally"],
                            "water vapor", TEXT).startswith("bad_process_name")
    text = "The water cycle has four stages. " + TEXT
    assert gates.chain_gate(sents, [0, 1, 2, 3], ["", "Then", "Next", "Finally"],
                            "water cycle", text) is None


@pytest.mark.parametrize("positions,links,reason", [
    ([0, 2, 1, 3], ["", "Then", "Next", "Finally"], "not_a_process"),   # out of order
    ([0, 1, 2, 3], ["", "", "", ""], "not_a_process"),                   # no connectives
])
def test_chain_gate_rejects(positions, links, reason):
    sents = [s.text for s in sentences(TEXT)]
    text = "The water cycle has four stages. " + TEXT
    assert gates.chain_gate(sents, positions, links, "water cycle", text).startswith(reason)


def _chain_docs(sents):
    return parse(sents)


def test_chain_gate_rejects_a_narrative_of_past_events():
    story = ["First, the researcher memorized a list of words.",
             "Then she measured how much she remembered a day later.",
             "Finally, she relearned the list and counted the trials."]
    text = "The process of memorization was studied. " + " ".join(story)
    links = ["", "connective:Then", "connective:Finally"]
    assert gates.chain_gate(story, [1, 2, 3], links, "process of memorization", text,
                            _chain_docs(story)).startswith("not_a_process: a narrative")
    present = ["First, the learner memorizes a list of words.",
               "Then the learner recalls as many words as possible a day later.",
               "Finally, the learner relearns the list and counts the trials."]
    text = "The process of memorization has three steps. " + " ".join(present)
    assert gates.chain_gate(present, [1, 2, 3], links, "process of memorization", text,
                            _chain_docs(present)) is None


def test_chain_gate_rejects_steps_joined_only_by_shared_nouns_and_conditionals():
    sents = [s.text for s in sentences(TEXT)]
    text = "The water cycle has four stages. " + TEXT
    assert gates.chain_gate(sents, [0, 1, 2, 3], ["", "entity:vapor", "entity:vapor",
                                                  "entity:vapor"], "water cycle", text
                            ).startswith("not_a_process: one shared noun")
    assert gates.chain_gate(sents, [0, 1, 2, 3], ["", "entity:water", "entity:vapor",
                                                  "entity:droplet"], "water cycle", text
                            ) is None  # a product passed on from step to step
    cond = ["Waves leave the two slits in phase.",
            "More generally, if the paths differ by half a wavelength, then the waves cancel.",
            "Similarly, if the paths differ by a whole wavelength, then the waves add."]
    text = "The process of interference is shown here. " + " ".join(cond)
    assert gates.chain_gate(cond, [1, 2, 3], ["", "sequence:then", "sequence:then"],
                            "process of interference", text).startswith(
        "not_a_process: an argument or a hypothetical")


def test_a_process_may_be_named_by_its_section_heading():
    sents = [s.text for s in sentences(TEXT)]
    links = ["", "connective:Then", "connective:Next", "connective:Finally"]
    assert gates.chain_gate(sents, [0, 1, 2, 3], links, "Precipitation Cycle", TEXT
                            ).startswith("bad_process_name")
    assert gates.chain_gate(sents, [0, 1, 2, 3], links, "Precipitation Cycle",
                            TEXT + "\nPrecipitation Cycle") is None


def test_ordinal_adjectives_and_listings_are_not_sequences():
    text = ("Older models divided the world into three groups. First and second world "
            "described industrialized nations. Then the model was extended to poor nations. "
            "Finally, the labels were dropped.")
    assert not any(x.lower().startswith("connective:first")
                   for p in mine(text).procedures for x in p["links"])
    listing = ("Jung's model of the process of therapy differs from Freud's on three points. "
               "First, Jung rejects the sexual drive as the primary motivator. Second, Jung "
               "extends the personal unconscious with a collective one. Third, Jung adds "
               "archetypes to it.")
    assert mine(listing).procedures == []
    components = ("The relaxation technique is a process that consists of four components:\n\n"
                  "1. Sit upright on a comfortable chair with both feet on the ground.\n"
                  "2. Stay in a quiet room with the eyes closed for a while.\n"
                  "3. Repeat a short word or phrase to yourself many times.\n"
                  "4. Let the mind focus on pleasant thoughts about nature.")
    assert mine(components).procedures == []


@pytest.mark.parametrize("heading,names", [
    ("Polymerase Chain Reaction (PCR)", True), ("DNA Replication in Eukaryotes", True),
    ("Use-Dilution Test", True), ("Applications of Diffraction, Interference, and Coherence",
                                  False),
    ("Physics of Surfing", False), ("Procedure for Part (a)", False), ("Gene Guns", False),
])
def test_a_heading_names_a_process_by_its_lead_phrase(heading, names):
    text = (f"{heading}\n\nWater evaporates from the ocean surface. Then the water vapor "
            "rises and cools. Next, the cooled vapor condenses into droplets.")
    procs = mine(text, ["Chapter Three"]).procedures
    assert len(procs) == 1
    assert (heading in procs[0]["names"]) is names
    assert gates.process_name_ok("Procedure for Part (b", "Procedure for Part (b").startswith(
        "bad_process_name")


def test_miner_finds_the_written_procedure():
    text = "The water cycle has four stages.\n\n" + TEXT
    m = mine(text, ["The Water Cycle"])
    assert [p["origin"] for p in m.procedures] == ["linked_sentences"]
    assert m.procedures[0]["links"][1:] == ["connective:Then", "connective:Next",
                                            "connective:Finally"]
    assert "water cycle" in [n.lower() for n in m.procedures[0]["names"]]


# --- sentences and roles ----------------------------------------------------------------

def test_sentences_survive_abbreviations_decimals_and_list_markers():
    text = ("The U.S. economy grew by 2.5 percent in 1990. Sulfolobus spp. live in hot "
            "springs (see Fig. 3).\n- The first item is a full sentence here.\n"
            "Figure: A caption that is not prose.")
    got = [s.text for s in sentences(text)]
    assert got == ["The U.S. economy grew by 2.5 percent in 1990.",
                   "Sulfolobus spp. live in hot springs (see Fig. 3).",
                   "The first item is a full sentence here."]
    assert all(text[s.start : s.end] == s.text for s in sentences(text))


@pytest.mark.parametrize("text,role", [
    ("Review Questions\n\nWhat is a cell?\n\n1. a unit\n2. a wall\n\nSolution: A", "exercises"),
    ("amplitude: extent of the displacement of a wave\nnode: any point of zero amplitude\n"
     "photon: smallest packet of light", "glossary"),
    ("Links\n\nhttps://openstax.org/l/one\nhttps://openstax.org/l/two", "references"),
    ("Figure: A cell.\n\nFigure: Two cells dividing into four.", "captions"),
    ("Heat flows from hot objects to cold ones. The flow continues until the temperatures "
     "are equal. This process is called thermal equilibrium. It is a basic law.",
     "expository"),
])
def test_chunk_roles_on_written_text(text, role):
    assert chunk_role(text)[0] == role


# --- real passages (read from the shared corpus at test time) ---------------------------

def _docs(book: str) -> list[dict]:
    if not (OPENSTAX / book).exists():
        pytest.skip(f"OpenStax corpus not found at {OPENSTAX}")
    return [json.loads(line) for line in gzip.open(OPENSTAX / book, "rt")]


def test_real_glossary_and_exercise_sections_are_not_expository():
    doc = next(d for d in _docs("007_chemistry-2e.jsonl.gz") if "\nGlossary\n" in d["text"])
    tail = doc["text"].split("\nGlossary\n")[-1]
    assert chunk_role(tail, ["Glossary"])[0] == "glossary"
    micro = next(d for d in _docs("006_microbiology.jsonl.gz")
                 if "\nMultiple Choice\n" in d["text"])
    ex = micro["text"].split("\nMultiple Choice\n")[1].split("\nFill in the Blank\n")[0]
    assert chunk_role(ex, ["Multiple Choice"])[0] == "exercises"


def test_real_passages_mine_gated_nodes_only():
    """On real paragraphs of three disciplines: everything the miner keeps passes the gates
    (re-checked here against each quote), and no kept field is junk."""
    books = ["006_microbiology.jsonl.gz", "011_principles-economics-3e.jsonl.gz",
             "015_psychology-2e.jsonl.gz"]
    kept_rel = kept_def = 0
    for book in books:
        text = _docs(book)[40]["text"]
        paras = [p for p in text.split("\n\n") if len(p.split()) > 40][:6]
        m = mine("\n\n".join(paras))
        for r in m.relations:
            if gates.statement_gate(r["subject"], r["predicate"], r["object"],
                                    r["source_quote"]) is None:
                kept_rel += 1
                assert r["source_quote"] in text
                assert r["subject"].lower() in r["source_quote"].lower()
                assert r["object"].lower() in r["source_quote"].lower()
                assert not re.search(r"https?:|_|Figure", " ".join(
                    (r["subject"], r["predicate"], r["object"])))
        for d in m.definitions:
            if gates.concept_gate(d["term"], d["definition"], d["source_quote"]) is None:
                kept_def += 1
                assert d["source_quote"] in text
                assert d["term"].lower() in d["source_quote"].lower()
    assert kept_rel >= 6 and kept_def >= 1
