"""Merge determinism and the bidirectional index, on a hand-built knowledge core."""

from __future__ import annotations

import random

import numpy as np

from proda_ray.knowledge.merge import graph_qa, kc_index, merge_concepts, normalize_term

CHAINS = [
    {"chain_id": "chain-a", "chunk_id": "chunk-1", "doc_id": "doc-1",
     "statement_ids": ["stmt-1", "stmt-2"]},
    {"chain_id": "chain-b", "chunk_id": "chunk-2", "doc_id": "doc-2",
     "statement_ids": ["stmt-3"]},
]
STATEMENTS = [
    {"statement_id": "stmt-1", "chain_id": "chain-a", "chunk_id": "chunk-1", "doc_id": "doc-1"},
    {"statement_id": "stmt-2", "chain_id": "chain-a", "chunk_id": "chunk-1", "doc_id": "doc-1"},
    {"statement_id": "stmt-3", "chain_id": "chain-b", "chunk_id": "chunk-2", "doc_id": "doc-2"},
]


def mention(term, sids, disc="001", definition="d", type_="entity"):
    return {"term": term, "type": type_, "definition": definition, "statement_ids": sids,
            "chain_id": "x", "chunk_id": "y", "discipline_code": disc}


MENTIONS = [
    mention("Water vapour", ["stmt-1"]), mention("water vapours", ["stmt-3"], "008"),
    mention("the Water Vapour", ["stmt-2"]), mention("heat", ["stmt-1"]),
    mention("Heat", ["stmt-2"], definition="energy in transit"), mention("entropy", ["stmt-3"]),
]


def fake_embed(keys):
    """Deterministic vectors: 'entropy' and 'heat' made near-identical on purpose."""
    vecs = []
    for k in keys:
        v = np.zeros(8)
        v[{"heat": 0, "entropy": 0}.get(k, hash(k) % 7 + 1)] = 1.0
        vecs.append(v)
    return np.array(vecs)


def test_normalize_term():
    assert normalize_term("The Water Vapours") == "water vapour"
    assert normalize_term("bodies") == "body"
    assert normalize_term("gas") == "gas" and normalize_term("virus") == "virus"
    assert normalize_term("Heat_transfer!") == "heat transfer"


def test_merge_is_deterministic_under_shuffling():
    base = merge_concepts(MENTIONS, threshold=1.0)
    rng = random.Random(0)
    for _ in range(10):
        shuffled = MENTIONS[:]
        rng.shuffle(shuffled)
        assert merge_concepts(shuffled, threshold=1.0) == base
    terms = {c["term"]: c for c in base}
    assert set(terms) == {"Water vapour", "heat", "entropy"} or set(terms) == {
        "Water vapour", "Heat", "entropy"}
    wv = terms["Water vapour"]
    assert wv["statement_ids"] == ["stmt-1", "stmt-2", "stmt-3"]
    assert wv["discipline_codes"] == ["001", "008"]
    assert sorted(wv["aliases"]) == ["the Water Vapour", "water vapours"]
    assert wv["concept_id"] == merge_concepts(MENTIONS[:1], 1.0)[0]["concept_id"]


def test_embedding_similarity_merges_and_stays_deterministic():
    merged = merge_concepts(MENTIONS, threshold=0.99, embed=fake_embed)
    assert len(merged) == 2  # heat + entropy joined by the (fake) embedding
    shuffled = list(reversed(MENTIONS))
    assert merge_concepts(shuffled, threshold=0.99, embed=fake_embed) == merged


def test_every_link_resolves_both_ways():
    concepts = merge_concepts(MENTIONS, threshold=1.0)
    rows = kc_index(CHAINS, STATEMENTS, concepts)
    edges = {(r["src_id"], r["dst_id"]) for r in rows}
    assert all((d, s) in edges for s, d in edges)
    linked = lambda x: {r["dst_id"] for r in rows if r["src_id"] == x}  # noqa: E731
    assert linked("stmt-1") >= {"chain-a", "chunk-1"}
    assert linked("chunk-1") == {"chain-a", "stmt-1", "stmt-2", "doc-1"}
    assert linked("doc-2") == {"chunk-2"}
    assert kc_index(CHAINS, list(reversed(STATEMENTS)), concepts[::-1]) == rows


def test_graph_qa_counts_orphans_and_dangling():
    concepts = merge_concepts(MENTIONS[:2], threshold=1.0)  # only water vapour
    qa = graph_qa(CHAINS, STATEMENTS, concepts)
    assert qa["dangling_links"] == 0
    assert qa["orphans"]["statements_without_concepts"] == 1  # stmt-2
    broken = [*STATEMENTS, {"statement_id": "stmt-9", "chain_id": "chain-zzz",
                            "chunk_id": "c", "doc_id": "d"}]
    assert graph_qa(CHAINS, broken, concepts)["dangling_links"] == 1
    assert 0 < qa["largest_component_ratio"] <= 1


def test_link_mentions_joins_statements_of_the_same_document_that_name_the_term():
    from proda_ray.knowledge.merge import link_mentions

    stmts = [
        {"statement_id": "s1", "doc_id": "d1", "subject": "Selective media",
         "object": "unwanted microorganisms"},
        {"statement_id": "s2", "doc_id": "d1", "subject": "Agar", "object": "a gel"},
        {"statement_id": "s3", "doc_id": "d2", "subject": "selective media",
         "object": "growth"},  # another document: not linked
    ]
    mentions = [{"term": "Selective Media", "doc_id": "d1", "statement_ids": []},
                {"term": "media", "doc_id": None, "statement_ids": ["s9"]}]
    assert link_mentions(mentions, stmts) == 1
    assert mentions[0]["statement_ids"] == ["s1"]  # case and articles normalized
    assert mentions[1]["statement_ids"] == ["s9"]  # no document: unchanged
