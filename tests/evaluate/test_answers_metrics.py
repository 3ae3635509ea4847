"""Answer extraction on the shapes models really produce; scoring; intervals; comparisons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proda_ray.answering import extract_answer, score
from proda_ray.evaluate import metrics

OPTIONS = ["Mitosis divides the nucleus", "Meiosis halves the chromosomes", "Osmosis", "Diffusion"]


@pytest.mark.parametrize("text, letters", [
    ("A,C", "AC"), ("AC", "AC"), ("A, C and D", "ACD"), ("(B)", "B"), ("**B** and D", "BD"),
    (" b", "B"), ("D) photosynthesis", "D"), ("A. Mitosis", "A"), ("C, because the membrane", "C"),
    ("Answer: B\nExplanation: because", "B"), ("Answer:\nA, B", "AB"),
    ("The correct options are A and C.", "AC"), ("Options A and B are correct", "AB"),
    ("<think>A looks wrong, maybe D</think> The answer is C.", "C"),
    ("I think B.", "B"), ("Answer: A, B, C, D", "ABCD"),
    ("The process is Meiosis halves the chromosomes", "B"),
])
def test_extracts_the_answer(text, letters):
    assert extract_answer(text, OPTIONS)[0] == letters


@pytest.mark.parametrize("text, status", [
    ("", "empty"), (None, "empty"), ("A cell is the unit of life", "unparsed"),
    ("<think>still thinking about A", "unparsed"), ("bad", "unparsed"),
    ("Answer: A cell membrane", "unparsed"),
    ("A. Event II occurs before event III.\nB. Event III occurs before", "unparsed"),
    ("Question: In Physics, consider the process", "unparsed"),
])
def test_refuses_to_guess(text, status):
    assert extract_answer(text, OPTIONS) == ("", status)


ORDER = ["Event I occurs before event III.", "Event II occurs before event I.",
         "Event I occurs before event II.", "Event III occurs before event II."]


@pytest.mark.parametrize("text, options, want", [
    # an option whose text lies inside another's is not quoted by it (was read as AC)
    ("Event I occurs before event III.", ORDER, ("A", "option_text")),
    ("D is wrong, B", OPTIONS, ("B", "scan")),          # was read as D
    ("Not A; B", OPTIONS, ("B", "scan")),               # was read as AB
    ("The answer is not C but D.", OPTIONS, ("D", "scan")),
    ("A. Mitosis divides the nucleus", OPTIONS, ("", "unparsed")),  # a bare option copy
    ("Mitosis divides the nucleus. Meiosis halves the chromosomes.", OPTIONS,
     ("", "unparsed")),                                 # the option list echoed back
    ("Event I occurs before event III. Event II occurs before event I.", ORDER,
     ("", "unparsed")),
])
def test_misreadings_fixed(text, options, want):
    assert extract_answer(text, options) == want


def test_a_label_beyond_the_options_is_read_not_a_crash():
    assert extract_answer("C. Osmosis", ["Mitosis", "Meiosis"]) == ("C", "letters")
    assert extract_answer("B. two", ["one", None]) == ("B", "letters")


@given(st.sets(st.sampled_from("ABCD"), min_size=1),
       st.sampled_from(["{}", "Answer: {}", "({})", "The answer is {}.", "**{}**"]),
       st.sampled_from([",", ", ", " and ", ""]))
def test_any_letter_set_round_trips(letters, frame, sep):
    text = frame.format(sep.join(sorted(letters)))
    assert extract_answer(text, OPTIONS)[0] == "".join(sorted(letters))


def test_scoring_exact_and_partial():
    assert score("AC", "AC") == (True, 1.0)
    assert score("A", "AC") == (False, 0.5)
    assert score("AB", "AC") == (False, 0.0)  # a wrong letter costs the item
    assert score("", "A") == (False, 0.0)
    with pytest.raises(ValueError):
        score("A", "")


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    xs = [1.0] * 70 + [0.0] * 30
    m, lo, hi = metrics.bootstrap_ci(xs, 1000, seed=1)
    assert m == pytest.approx(0.7) and lo < 0.7 < hi and hi - lo < 0.25
    assert metrics.bootstrap_ci(xs, 1000, seed=1) == (m, lo, hi)
    assert metrics.bootstrap_ci([1.0] * 10)[1:] == (1.0, 1.0)


def _pred(i, split, correct, chain="c1", stmts=("s1",), concepts=("k1",)):
    return {"item_id": f"i{i}", "split": split, "correct": correct, "chain_id": chain,
            "statement_ids": list(stmts), "concept_ids": list(concepts),
            "partial_credit": float(correct), "parse_status": "letters",
            "discipline_code": "001", "question_type": "next_step"}


def test_node_table_levels_and_round_comparison():
    r1 = [_pred(1, "test", False), _pred(2, "test", True, "c2", ("s2",), ("k1", "k2")),
          _pred(3, "test", False, "c2", ("s3",), ("k2",)), _pred(4, "dev", False)]
    nodes = {(n["node_kind"], n["node_id"], n["split"]): n for n in metrics.node_table(r1)}
    assert nodes[("chain", "c2", "test")]["items"] == 2
    assert nodes[("chain", "c2", "test")]["accuracy"] == 0.5
    assert nodes[("concept", "k1", "test")]["correct"] == 1
    lv = metrics.by_level(list(nodes.values()), "test")
    assert lv["L3"]["nodes"] == 2 and lv["L2"]["nodes_all_wrong"] == 2
    r2 = [dict(p) for p in r1]
    r2[0]["correct"], r2[1]["correct"] = True, False
    cmp = metrics.compare(r1, r2)["test"]
    assert cmp["fixed"] == ["i1"] and cmp["broken"] == ["i2"] and cmp["still_failing"] == 1
    assert cmp["diff"] == 0.0 and cmp["diff_ci"][0] <= 0 <= cmp["diff_ci"][1]


def test_intervals_resample_clusters_and_never_collapse():
    # 40 clusters of 10 items that are all right or all wrong: the items are not 400
    # independent draws, and the cluster interval says so
    xs = [float(c % 2) for c in range(40) for _ in range(10)]
    cl = [c for c in range(40) for _ in range(10)]
    item = metrics.accuracy_ci(xs, None, 1000, seed=3)
    clus = metrics.accuracy_ci(xs, cl, 1000, seed=3)
    assert item["method"] == clus["method"] == "cluster_bootstrap"
    assert (clus["ci"][1] - clus["ci"][0]) > 2.5 * (item["ci"][1] - item["ci"][0])
    # every item right: the bootstrap would give [1, 1]; Wilson over the clusters does not
    allright = metrics.accuracy_ci([1.0] * 12, list(range(12)))
    assert allright["method"] == "wilson" and allright["ci"][1] == 1.0
    assert allright["ci"][0] < 0.8
    # no item changed between two rounds: the exact bound, not a zero-width interval
    same = metrics.paired_diff_ci([1.0, 0.0] * 10, [1.0, 0.0] * 10)
    assert same["method"] == "exact_no_change" and same["ci"][0] < 0 < same["ci"][1]
    assert same["detectable"] > 0
    # a real change: the paired interval excludes 0 and the detectable effect is below it
    before = [0.0] * 60
    after = [1.0] * 30 + [0.0] * 30
    moved = metrics.paired_diff_ci(before, after, clusters=list(range(60)))
    assert moved["ci"][0] > 0 and moved["detectable"] < moved["diff"]


def test_versus_prior_tells_chance_from_knowledge():
    # 40 chains of 4 items, keys balanced over A-D: the prior (always A) gets 1 in 4
    rows = [{"item_id": f"i{c}-{k}", "chain_id": f"c{c}", "question_type": "t",
             "gold": "ABCD"[k]} for c in range(40) for k in range(4)]
    guess = [r | {"correct": r["gold"] == "B"} for r in rows]  # a constant guess: chance
    knows = [r | {"correct": True, "partial_credit": 1.0} for r in rows]
    below = [r | {"correct": False} for r in rows]
    assert metrics.versus_prior(guess)["at_chance"]
    assert metrics.versus_prior(guess)["diff"] == 0.0
    k = metrics.versus_prior(knows)
    assert not k["at_chance"] and k["ci"][0] > 0.5
    assert not metrics.versus_prior(below)["at_chance"]
    assert metrics.summarize(knows)["vs_prior"]["diff"] == pytest.approx(0.75)
