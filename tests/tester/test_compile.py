"""Compiling chains into items: templates (property-tested), answerability, dedup, splits."""

from __future__ import annotations

import random
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proda_ray.engines.base import Engine, GenerationResult
from proda_ray.tester import closed_book, templates
from proda_ray.tester.compile import compile_unit, finalize, pools
from proda_ray.tester.config import BenchConfig
from proda_ray.tester.items import LETTERS, validate

WORDS = ["water", "vapour", "cloud", "heat", "energy", "cell", "enzyme", "protein", "acid",
         "base", "light", "force", "mass", "charge", "field", "market", "price", "demand",
         "rock", "magma", "crust", "signal", "neuron", "memory", "star", "orbit", "gas"]
word = st.sampled_from(WORDS)
sentence = st.lists(word, min_size=6, max_size=22).map(
    lambda ws: " ".join(ws).capitalize() + ".")


@st.composite
def knowledge_core(draw):
    """A random but well-formed knowledge core: chains of 3-7 steps with statements that
    link adjacent steps (phrases of those steps), in 1-3 disciplines."""
    n_chains = draw(st.integers(1, 6))
    chains, stmts = [], []
    for c in range(n_chains):
        steps = draw(st.lists(sentence, min_size=3, max_size=7, unique=True))
        disc = draw(st.sampled_from(["001", "006", "011"]))
        cid = f"chain-{c:016x}"
        chains.append({"chain_id": cid, "chunk_id": f"chunk-{c // 2:016x}",
                       "doc_id": f"doc-{c // 4:016x}", "discipline_code": disc,
                       "domain_context": {"001": "Physics", "006": "Biology",
                                          "011": "Economics"}[disc],
                       "process_name": " ".join(draw(st.lists(word, min_size=1,
                                                              max_size=3))),
                       "steps": steps})
        for i in range(len(steps) - 1):
            a, b = steps[i].rstrip(".").split(), steps[i + 1].rstrip(".").split()
            stmts.append({"statement_id": f"stmt-{c:08x}{i:08x}", "chain_id": cid,
                          "step_index": i, "subject": " ".join(a[:2]).lower(),
                          "predicate": draw(st.sampled_from(["causes", "produces",
                                                             "increases", "leads to"])),
                          "object": " ".join(b[-2:]).lower(),
                          "concept_ids": [f"concept-{c:08x}{i:08x}"]})
    return chains, stmts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kc=knowledge_core(), seed=st.integers(0, 5))
def test_template_items_are_valid_keyed_by_the_chain_and_deterministic(kc, seed):
    chains, stmts = kc
    cfg = BenchConfig(seed=seed, answerability="off", length_tolerance=1.0, items_per_chain=4,
                      kinds=["process_order", "causal_chain", "next_step", "step_after"])
    pool = pools(chains, stmts, seed=seed)
    first = compile_unit(chains, stmts, pool, cfg)
    again = compile_unit(chains, stmts, pool, cfg)
    assert [i["item_id"] for i in first.items] == [i["item_id"] for i in again.items]
    for it in first.items:
        assert len(it["options"]) == 4 and set(it["answer"]) <= set(LETTERS)
        assert it["answer"] == "".join(sorted(set(it["answer"])))
        # the key follows the chain
        solve = (closed_book.solve_from_facts if it["question_type"] == "step_after"
                 else templates.solve_from_chain)
        assert solve(it) == it["answer"]
        assert it["question_type"] in (*templates.KINDS, "step_after")
        assert it["chain_id"] in {c["chain_id"] for c in chains}
    # every chain (>= 3 steps) yields at least one candidate from some template
    made = sum(v for k, v in first.counters.items() if k.startswith("candidates:"))
    assert made >= 1
    # whatever the gates dropped was written down with a reason
    assert len(first.rejected) == sum(v for k, v in first.counters.items()
                                      if k.startswith("rejected:"))
    assert all(validate(it, cfg.min_question_words, cfg.max_question_words) is None
               for it in first.items)  # survivors passed every gate


def _kc():
    steps = ["Sunlight warms the surface water of oceans and lakes every day.",
             "Warm water evaporates and the vapour rises with the warm air.",
             "The rising vapour cools as it climbs into the upper air.",
             "Cool vapour condenses into droplets that gather as clouds.",
             "Heavy droplets fall as rain and return the water to the surface."]
    chain = {"chain_id": "chain-aaaaaaaaaaaaaaaa", "chunk_id": "chunk-aaaaaaaaaaaaaaaa",
             "doc_id": "doc-aaaaaaaaaaaaaaaa", "discipline_code": "008",
             "domain_context": "Earth Science", "process_name": "the water cycle",
             "steps": steps}
    return chain, steps


def test_an_item_whose_key_contradicts_its_chain_is_rejected(monkeypatch):
    chain, _ = _kc()
    real = templates.GENERATORS["process_order"]

    def tampered(*a, **kw):
        it = real(*a, **kw)
        wrong = next(x for x in ("A", "B", "C", "D", "AB", "ABCD") if x != it["answer"])
        return it | {"answer": wrong}

    monkeypatch.setitem(templates.GENERATORS, "process_order", tampered)
    cfg = BenchConfig(kinds=["process_order"], items_per_chain=1)
    out = compile_unit([chain], [], pools([chain], []), cfg)
    assert not out.items
    assert out.counters["rejected:answerability:key_contradiction"] == 1
    assert out.rejected[0].reason == "key_contradiction"
    monkeypatch.setitem(templates.GENERATORS, "process_order", real)
    ok = compile_unit([chain], [], pools([chain], []), cfg)
    assert len(ok.items) + sum(1 for r in ok.rejected if r.step == "gate") == 1


class _Judge(Engine):
    """A scripted judge for the engine answerability path (parsing logic only)."""

    kind = "scripted"

    def __init__(self, answer: str):
        self.answer = answer

    @property
    def model_id(self) -> str:
        return "judge"

    def generate(self, requests):
        letters = ", ".join(f'"{c}"' for c in self.answer)
        return [GenerationResult(f'{{"answer": [{letters}]}}') for _ in requests]


def test_engine_answerability_rejects_a_contradicted_key():
    chain, _ = _kc()
    cfg = BenchConfig(kinds=["process_order"], items_per_chain=1, answerability="engine",
                      length_tolerance=1.0)
    probe = compile_unit([chain], [], pools([chain], []),
                         cfg.model_copy(update={"answerability": "off"}))
    key = probe.items[0]["answer"] if probe.items else None
    if key is None:  # the blind gate dropped it; nothing to judge
        return
    agree = compile_unit([chain], [], pools([chain], []), cfg, _Judge(key))
    assert len(agree.items) == 1
    other = next(x for x in ("A", "B", "C", "D") if x != key)
    disagree = compile_unit([chain], [], pools([chain], []), cfg, _Judge(other))
    assert not disagree.items
    assert disagree.counters["rejected:answerability:key_contradiction"] == 1


def _items(n_chunks: int, per_chunk: int = 3) -> list[dict]:
    out = []
    for c in range(n_chunks):
        for k in range(per_chunk):
            rng = random.Random(c * 100 + k)
            q = " ".join("".join(rng.choices(string.ascii_lowercase, k=5)) for _ in range(45))
            out.append({"item_id": f"item-{c:08x}{k:08x}", "chain_id": f"chain-{c}-{k % 2}",
                        "chunk_id": f"chunk-{c}", "doc_id": f"doc-{c // 3}",
                        "discipline_code": "001" if c % 2 else "006", "question": q,
                        "options": [f"opt {c} {k} {i}" for i in range(4)], "answer": "A",
                        "question_type": "process_order"})
    return out


def test_splits_put_nodes_on_both_sides_and_hold_documents_out():
    items = _items(30)  # chain-c-0: two items per chunk; chain-c-1: one
    cfg = BenchConfig(test_fraction=0.3, seed=1, validity="report")  # random text, key "A"
    held_out = {"doc-0", "doc-4"}
    a = finalize(items, cfg, held_out)
    b = finalize(list(reversed(items)), cfg, held_out)
    split = {i["item_id"]: i["split"] for i in a.items}
    assert split == {i["item_id"]: i["split"] for i in b.items}  # order-independent
    assert set(split.values()) == {"dev", "test", "transfer"}
    by_chain: dict[str, list[str]] = {}
    for i in a.items:
        # a held-out document is transfer, whole; nothing else is
        assert (i["split"] == "transfer") == (i["doc_id"] in held_out)
        if i["split"] != "transfer":
            by_chain.setdefault(i["chain_id"], []).append(i["split"])
    for chain, splits in by_chain.items():
        if len(splits) == 1:  # a node with one item: nothing could repair a test item
            assert splits == ["dev"], chain
        # a test item always has a dev item on its node (what the debugger can repair)
        assert splits.count("test") <= 1 and (splits.count("test") == 0 or "dev" in splits)
    paired = [s for s in by_chain.values() if len(s) == 2]
    share = sum(s.count("test") for s in paired) / (2 * len(paired))
    assert 0.15 <= share <= 0.45, share  # about test_fraction of the paired nodes' items
    other_seed = finalize(items, cfg.model_copy(update={"seed": 2}), held_out)
    assert {i["item_id"]: i["split"] for i in other_seed.items} != split


def test_a_test_item_that_repeats_a_dev_item_moves_to_dev():
    from proda_ray.tester.compile import split_items

    cfg = BenchConfig(test_fraction=0.45, seed=3)
    base = {"question_type": "definition_match", "level": "L1", "discipline_code": "006",
            "chunk_id": "c", "doc_id": "d", "chain_id": None, "answer": "A"}
    items, moved = [], 0
    for n in range(40):  # two items per concept; the second asks the same with one word more
        q = f"In biology, which of the following is the definition of term{n}?"
        opts = [f"the definition number {n} of a thing", "x y z", "u v w", "p q r"]
        items += [base | {"item_id": f"item-{n:04d}a", "concept_ids": [f"c{n}"],
                          "question": q, "options": opts},
                  base | {"item_id": f"item-{n:04d}b", "concept_ids": [f"c{n}"],
                          "question": q.replace("which", "which one"), "options": opts}]
    from collections import Counter

    counters = Counter()
    split_items(items, cfg, set(), counters)
    moved = counters["test_moved_near_duplicate_of_dev"]
    assert moved > 0 and not any(i["split"] == "test" for i in items)
    # the reverse question of the same node is no duplicate: it stays in test
    words = [" ".join("".join(random.Random(f"{n}:{k}").choices(string.ascii_lowercase, k=6))
                      for k in range(7)) for n in range(40)]
    rev = [base | {"item_id": f"item-{n:04d}a", "concept_ids": [f"c{n}"],
                   "question": f"In biology, which of the following is the definition of "
                               f"term{n}?",
                   "options": [words[n], "x", "y", "z"]} for n in range(40)]
    rev += [base | {"item_id": f"item-{n:04d}b", "concept_ids": [f"c{n}"],
                    "question_type": "term_match",
                    "question": f"In biology, which term has this definition: "
                                f"\"{words[n]}\"?",
                    "options": [f"term{n}", "a", "b", "c"]} for n in range(40)]
    counters = Counter()
    split_items(rev, cfg, set(), counters)
    assert counters["test_moved_near_duplicate_of_dev"] == 0
    assert 28 <= sum(i["split"] == "test" for i in rev) <= 40  # p = min(1, 2 * 0.45)


def test_finalize_dedups_and_applies_quotas():
    items = _items(4)
    dup = dict(items[0], item_id="item-ffffffffffffffff")
    near = dict(items[1], item_id="item-eeeeeeeeeeeeeeee", question=items[1]["question"] + " x")
    out = finalize([*items, dup, near], BenchConfig(validity="report"))
    reasons = sorted(r.reason for r in out.rejected)
    assert reasons == ["duplicate", "near_duplicate"]
    capped = finalize(items, BenchConfig(max_items_per_discipline=2, validity="report"))
    assert len(capped.items) == 4
    assert capped.counters["rejected:quota:quota_exceeded"] == 8
