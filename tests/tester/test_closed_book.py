"""Closed-book item types: each key against an independent solver built from the knowledge
core (never from the generator's code or its recorded facts), stems that never show what
decides the key, verified perturbations, balanced keys."""

from __future__ import annotations

import re
from collections import Counter

from proda_ray.tester import closed_book
from proda_ray.tester.compile import compile_unit, finalize, pools
from proda_ray.tester.config import BenchConfig

# a small knowledge core written for the test (not corpus text)
DEFS = {
    "osmosis": "the movement of water across a selectively permeable membrane toward "
               "more solute",
    "catalyst": "a substance that speeds up a chemical reaction without being used up by it",
    "isotope": "one of several forms of an element whose atoms differ in their number of "
               "neutrons",
    "mitosis": "the division of a nucleus that gives two nuclei with identical chromosome sets",
    "enzyme": "a protein that lowers the activation energy of a specific biological reaction",
    "allele": "one of the alternative versions of a gene found at the same place on a "
              "chromosome",
    "buffer": "a solution that resists large changes of pH when small amounts of acid are added",
    "photon": "the smallest discrete packet of electromagnetic radiation carrying energy",
    "vaccine": "a preparation that trains the immune system to recognise a pathogen early",
    "ribosome": "a molecular machine in every cell that joins amino acids into a polypeptide",
    "antibody": "a protein made by immune cells that binds one specific foreign molecule",
    "diffusion": "the net spread of particles from a region of high to low concentration",
}
STATEMENTS = [  # one chunk: (subject, predicate, object)
    ("red blood cells", "carry", "oxygen from the lungs to the body tissues"),
    ("platelets", "form", "plugs that stop bleeding at damaged vessel walls"),
    ("white blood cells", "defend", "the body against invading microorganisms"),
    ("plasma", "transports", "dissolved nutrients, hormones and waste products"),
    ("hemoglobin", "binds", "iron-containing heme groups inside each molecule"),
    ("the spleen", "removes", "old and damaged erythrocytes from circulation"),
]
SENTENCES = [f"{s.capitalize()} {p} {o}." for s, p, o in STATEMENTS]
STEPS = ["The enzyme binds its substrate at the active site of the protein.",
         "Then the enzyme changes shape slightly and strains the substrate's bonds.",
         "Next the bonds break and the products are formed at the active site.",
         "The products are released from the active site into the solution.",
         "Finally the free enzyme is ready to bind another substrate molecule."]

_W = re.compile(r"[a-z0-9]+")


def words(t: str) -> list[str]:
    return _W.findall(t.lower())


def concepts(doc: str = "doc-a") -> list[dict]:
    return [{"concept_id": f"concept-{i:016x}", "term": t, "aliases": [], "definition": d,
             "statement_ids": [], "chunk_id": f"chunk-{i:016x}", "doc_id": doc,
             "discipline_code": "006", "discipline": "Biology"}
            for i, (t, d) in enumerate(sorted(DEFS.items()))]


def statements(chunk: str = "chunk-blood") -> list[dict]:
    return [{"statement_id": f"stmt-{chunk}-{i}", "chain_id": None, "chunk_id": chunk,
             "doc_id": "doc-b", "discipline_code": "006", "subject": s, "predicate": p,
             "object": o, "source_quote": SENTENCES[i], "concept_ids": []}
            for i, (s, p, o) in enumerate(STATEMENTS)]


def blood_chunk(chunk: str = "chunk-blood") -> dict:
    return {"chunk_id": chunk, "doc_id": "doc-b", "discipline_code": "006",
            "discipline": "Biology", "section_path": ["3.2 Blood Components", "Cells"],
            "title": "3.2 Blood Components", "sentences": SENTENCES}


# --- independent solvers: read the core, never the item's facts or closed_book ------------

def solve_definition(item: dict) -> str:
    term = re.search(r'definition of "([^"]+)"', item["question"]).group(1)
    truth = words(DEFS[term])
    return "".join(c for c, o in zip("ABCD", item["options"], strict=True)
                   if (w := [x for x in words(o)]) and truth[: len(w)] == w)


def solve_term(item: dict) -> str:
    shown = words(re.search(r'this definition: "([^"]+)"\?$', item["question"]).group(1))
    terms = [t for t, d in DEFS.items() if words(d)[: len(shown)] == shown]
    return "".join(c for c, o in zip("ABCD", item["options"], strict=True)
                   if words(o) in [words(t) for t in terms])


def solve_truth(item: dict) -> str:
    true = {tuple(words(f"{s} {p} {o}")) for s, p, o in STATEMENTS}
    return "".join(c for c, o in zip("ABCD", item["options"], strict=True)
                   if tuple(words(o)) in true)


def solve_after(item: dict, steps: list[str]) -> str:
    shown = re.search(r'after this step: "(.+)"\?$', item["question"]).group(1)
    norm = [words(s) for s in steps]
    i = next(k for k, w in enumerate(norm) if w[-len(words(shown)):] == words(shown)
             or words(shown) == w[len(w) - len(words(shown)):])
    nxt = norm[i + 1]
    return "".join(c for c, o in zip("ABCD", item["options"], strict=True)
                   if nxt[len(nxt) - len(words(o)):] == words(o))


def test_definition_items_are_keyed_by_the_core_and_every_option_is_a_key_once():
    cs = concepts()
    sets, why = closed_book.definition_sets(cs, seed=0)
    assert len(sets) >= 8 and set(why.values()) <= {"no_set_of_four_definitions"}
    keyed: Counter = Counter()
    for c in cs:
        if c["concept_id"] not in sets:
            continue
        item, err = closed_book.definition_match(c, sets[c["concept_id"]], seed=0)
        assert item is not None, err
        assert solve_definition(item) == item["answer"]
        key = item["options"]["ABCD".index(item["answer"])]
        assert not set(words(key)) - {"the"} <= set(words(item["question"]))
        assert len(item["answer"]) == 1 and item["level"] == "L1"
        keyed[key] += 1
        # the options are the four definitions of the set
        assert sorted(item["options"]) == sorted(g["option"] for g in sets[c["concept_id"]])
    # the balanced design: across a set's four items every option is the key exactly once
    assert set(keyed.values()) == {1} and len(keyed) == len(sets)


def test_term_items_read_the_definition_and_ask_for_its_term():
    cs = concepts()
    sets, _ = closed_book.definition_sets(cs, seed=0)
    keyed: Counter = Counter()
    for c in cs:
        if c["concept_id"] not in sets:
            continue
        item, err = closed_book.term_match(c, sets[c["concept_id"]], seed=0)
        assert item is not None, err
        assert solve_term(item) == item["answer"] and item["level"] == "L1"
        key = item["options"]["ABCD".index(item["answer"])]
        assert key == c["term"] and not re.search(rf"\b{key}\b", item["question"].lower())
        assert sorted(item["options"]) == sorted(g["term"] for g in sets[c["concept_id"]])
        keyed[key] += 1
    assert set(keyed.values()) == {1} and len(keyed) == len(sets)


def test_a_held_out_side_never_shares_a_definition_set():
    cs = concepts()
    side = {c["concept_id"]: i % 3 == 0 for i, c in enumerate(cs)}
    sets, _ = closed_book.definition_sets(cs, seed=0, side=lambda c: side[c["concept_id"]])
    assert sets
    for group in sets.values():
        assert len({side[g["concept_id"]] for g in group}) == 1


def test_a_definition_that_repeats_its_term_or_a_decoy_naming_it_is_not_used():
    cs = concepts()
    bad = dict(cs[0], term="catalyst", definition="a catalyst speeds up a chemical reaction "
               "without being used up by the reaction")
    _, why = closed_book.definition_sets([bad, *cs[1:]], seed=0)
    assert why[bad["concept_id"]] == "term_in_definition"
    # another form of the term gives the key away too
    plural = dict(cs[0], term="schema", definition="(plural = schemata) mental construct "
                  "made of a cluster of related concepts")
    assert closed_book.definiens("schema", plural["definition"], "glossary").startswith(
        "mental construct")
    assert closed_book._definition_ok(dict(plural, definition="schemata are mental "
                                           "constructs of related concepts"), 30)[1] \
        == "term_in_definition"
    # a distractor that names the term is not a distractor: it could define it
    assert closed_book.verify_definition("enzyme", [], DEFS["enzyme"],
                                         "a molecule that an enzyme acts upon") \
        == "names_the_term"
    assert closed_book.verify_definition("enzyme", [], DEFS["enzyme"], DEFS["enzyme"]
                                         + " quickly") == "near_copy_of_definition"
    sets, why = closed_book.definition_sets(cs[:3], seed=0)
    assert not sets and set(why.values()) == {"no_set_of_four_definitions"}


def test_set_members_share_as_many_of_each_terms_words_as_its_own_definition():
    """A reader matching the term's words against the options must find no key: a
    definition that shares a word with its term sits only with definitions that do too,
    and no member is a broader or narrower term of another."""
    def c(term, definition):
        o = closed_book._definition_ok({"term": term, "definition": definition}, 30)[0]
        return {"concept_id": term, "term": term, "aliases": [], "option": o}

    kinetic = c("kinetic energy", "the energy that a body has because it is moving")
    potential = c("potential energy", "the energy that a body stores because of position")
    power = c("power", "the rate at which work is done or converted per second")
    assert closed_book._compatible(kinetic, potential, None, 0.7)
    assert not closed_book._compatible(kinetic, power, None, 0.7)  # "energy" only in one
    rehearsal = c("rehearsal", "conscious repetition of information to be remembered")
    elaborative = c("elaborative rehearsal", "thinking about what new information means")
    assert not closed_book._compatible(rehearsal, elaborative, None, 0.7)


def test_definiens_keeps_what_the_term_means_without_the_term():
    d = closed_book.definiens
    # the article goes with the verb: glossary lines have none either
    assert d("phenotype", "A phenotype is the observable traits of a cell at one time.",
             "copular") == "observable traits of a cell at one time."
    assert d("Syntax", "Syntax refers to the way words are put into sentences.",
             "refers_to") == "the way words are put into sentences."
    assert d("energy", "In fact, energy can be defined as the ability to do work.",
             "defined_as") == "the ability to do work."
    assert d("DNA denaturation", "This process is called DNA denaturation.", "called") == ""
    assert d("buffer", "solution that resists changes of pH", "glossary") == \
        "solution that resists changes of pH"


def test_single_keys_are_balanced_over_the_letters():
    items = [{"item_id": f"item-{n:04d}", "question_type": "definition_match",
              "options": ["k", "x", "y", "z"], "answer": "A"} for n in range(40)]
    closed_book.balance_keys(items, seed=3)
    assert Counter(i["answer"] for i in items) == {c: 10 for c in "ABCD"}
    for i in items:  # the key moved with its option
        assert i["options"]["ABCD".index(i["answer"])] == "k"


def test_statement_items_are_keyed_by_the_core_with_balanced_patterns():
    patterns = Counter()
    for n in range(60):
        chunk = f"chunk-{n:04d}"
        item, why = closed_book.statement_truth(blood_chunk(chunk), statements(chunk),
                                                seed=n, sentences=SENTENCES)
        if item is None:
            assert why == "no_verified_perturbation"
            continue
        assert solve_truth(item) == item["answer"]
        assert "Blood Components" in item["question"] and "3.2" not in item["question"]
        for o in item["options"]:  # no option's claim is shown in the stem
            assert not set(words(o)) <= set(words(item["question"]))
        patterns[item["answer"]] += 1
    assert sum(patterns.values()) >= 40
    assert len(patterns) >= 10  # patterns spread over the 15 subsets
    assert max(patterns.values()) <= 0.25 * sum(patterns.values())


def test_a_perturbation_the_chunk_states_is_not_a_false_option():
    text = ["Platelets carry oxygen only in some invertebrates."]  # makes a swap true
    assert closed_book.verify_swap("platelets", "oxygen from the lungs", [], text) \
        == "co_occurs_in_a_sentence"
    assert closed_book.verify_swap("platelets", "oxygen", ["Platelets carry oxygen."], []) \
        == "stated_by_a_statement"
    assert closed_book.verify_swap("plasma", "old and damaged erythrocytes", [],
                                   SENTENCES) is None


def test_step_items_ask_what_follows_a_shown_step_from_the_same_process():
    chain = {"chain_id": "chain-e", "chunk_id": "chunk-e", "doc_id": "doc-e",
             "discipline_code": "006", "domain_context": "Biology",
             "process_name": "Enzyme catalysis", "steps": STEPS}
    for seed in range(8):
        item, why = closed_book.step_after(chain, seed, other_steps=[])
        assert item is not None, why
        assert solve_after(item, STEPS) == item["answer"]
        # every option is a step of this process, and none is the one shown
        shown = re.search(r'after this step: "(.+)"\?$', item["question"]).group(1)
        for o in item["options"]:
            assert any(words(o) == words(s)[len(words(s)) - len(words(o)):] for s in STEPS)
            assert words(o) != words(shown)
            assert not re.match(r"(then|next|finally)\b", o, re.I)  # no order words


def test_compile_unit_links_levels_and_finalize_ships_the_closed_book_types():
    cs = concepts()
    st = statements()
    cfg = BenchConfig(validity="report")
    pool = pools([], st)
    out = compile_unit([], st, pool, cfg, chunks=[blood_chunk()], concepts=cs)
    by_type = Counter(i["question_type"] for i in out.items)
    built = len(closed_book.definition_sets(cs, 0)[0])
    assert by_type["definition_match"] == by_type["term_match"] == built >= 8
    assert by_type["statement_truth"] == 1
    for it in out.items:
        assert it["chain_id"] is None
        if it["question_type"] in ("definition_match", "term_match"):
            assert it["level"] == "L1" and len(it["concept_ids"]) == 1
        else:
            assert it["level"] == "L2" and len(it["statement_ids"]) == 4
    fin = finalize(out.items, cfg)
    # definition items share options with each other, yet are different questions
    assert len(fin.items) == len(out.items)
    assert set(fin.validity["types"]) == set(by_type)


def test_a_statement_is_worded_as_its_sentence_and_a_cut_object_is_not_used():
    s = {"subject": "Friction", "predicate": "causes", "object": "loss of useful energy",
         "source_quote": "Friction causes the loss of useful energy, so machines heat up."}
    head, obj, claim = closed_book.render(s)
    assert claim == "Friction causes the loss of useful energy."  # the article is back
    assert (head, obj) == ("Friction causes", "the loss of useful energy")
    cut = {"subject": "Power", "predicate": "is", "object": "the rate",
           "source_quote": "Power is the rate at which work is done."}
    assert closed_book.render(cut) is None  # "the rate | at which": mid-phrase
    assert not closed_book.usable_statement(cut)
    clause = dict(cut, object="the rate of work", source_quote="Power is the rate of work, "
                  "and it is measured in watts.")
    assert closed_book.render(clause)[2] == "Power is the rate of work."
    # with the discipline's terms, only statements about a term are used
    terms = [frozenset(closed_book.stems("power"))]
    assert closed_book.usable_statement(clause, terms=terms)
    assert not closed_book.usable_statement(
        {"subject": "A celebrity actor", "predicate": "owns", "object": "three large homes",
         "source_quote": "A celebrity actor owns three large homes."}, terms=terms)
