"""Knowledge Core merge: canonical concepts across chunks, the kc_index, graph QA.

Deterministic by construction: every grouping is a union-find over an order-independent set
of pairs, and every choice (canonical term, type, definition) is a total order over values,
so shuffled input gives the same ids and the same graph. Ids are content hashes
(``concept-<hash of the normalized canonical term>``), never counters.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from proda_ray.ids import make_id

_ARTICLE = re.compile(r"^(the|a|an)\s+")
_NON_WORD = re.compile(r"[^\w\s-]+")


def normalize_term(term: str) -> str:
    """Lower case, no leading article, no punctuation, single spaces, naive singular."""
    t = _NON_WORD.sub(" ", term.lower().replace("_", " "))
    t = _ARTICLE.sub("", " ".join(t.split()))
    words = t.split()
    if words:
        w = words[-1]
        if len(w) > 4 and w.endswith("ies"):
            words[-1] = w[:-3] + "y"
        elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            words[-1] = w[:-1]
    return " ".join(words)


class _UF:
    def __init__(self, items: list[str]):
        self.parent = {x: x for x in items}

    def find(self, x: str) -> str:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def cluster_terms(keys: list[str], threshold: float, embed=None) -> dict[str, str]:
    """normalized term -> cluster root (the smallest key of its cluster)."""
    keys = sorted(set(keys))
    uf = _UF(keys)
    if threshold < 1.0 and len(keys) > 1:
        if embed is None:
            from proda_ray.embeddings import MiniLMEmbedder

            embed = MiniLMEmbedder().encode
        vecs = np.asarray(embed(keys))
        sims = vecs @ vecs.T
        for i, j in zip(*np.nonzero(np.triu(sims >= threshold, k=1)), strict=True):
            uf.union(keys[i], keys[j])
    return {k: uf.find(k) for k in keys}


def _pick(values: list[str]) -> str:
    """Most frequent, then shortest, then alphabetical: a total order, so deterministic."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], len(v), v))


def link_mentions(mentions: list[dict], statements: list[dict]) -> int:
    """Link each concept mention to the statements of its document whose subject or object
    names the term (whole words, normalized): a glossary concept or one defined in another
    chunk joins the statements that use it. Returns the number of links added."""
    by_doc: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for st in statements:
        by_doc[st["doc_id"]].append((st["statement_id"], normalize_term(st["subject"]),
                                     normalize_term(st["object"])))
    added = 0
    for m in mentions:
        term = normalize_term(m["term"])
        if not term or not m.get("doc_id"):
            continue
        pat = re.compile(r"\b" + re.escape(term) + r"\b")
        have = set(m["statement_ids"] or [])
        new = [sid for sid, subj, obj in by_doc.get(m["doc_id"], ())
               if sid not in have and (pat.search(subj) or pat.search(obj))]
        m["statement_ids"] = sorted(have | set(new))
        added += len(new)
    return added


def merge_concepts(mentions: list[dict], threshold: float, embed=None) -> list[dict]:
    keys = [normalize_term(m["term"]) for m in mentions]
    root = cluster_terms([k for k in keys if k], threshold, embed)
    groups: dict[str, list[dict]] = defaultdict(list)
    for m, k in zip(mentions, keys, strict=True):
        if k:
            groups[root[k]].append(m)
    concepts = []
    for members in groups.values():
        term = _pick([m["term"].strip() for m in members])
        concepts.append({
            "concept_id": make_id("concept", normalize_term(term)),
            "term": term,
            "aliases": sorted({m["term"].strip() for m in members} - {term}),
            "type": _pick([m["type"] for m in members if m["type"]] or ["concept"]),
            "definition": _pick([m["definition"] for m in members if m["definition"]] or [""]),
            "statement_ids": sorted({s for m in members for s in m["statement_ids"]}),
            "discipline_codes": sorted({m["discipline_code"] for m in members
                                        if m["discipline_code"]}),
        })
    # two clusters whose canonical terms normalize alike would collide: fold them together
    by_id: dict[str, dict] = {}
    for c in sorted(concepts, key=lambda c: (c["concept_id"], c["term"])):
        if c["concept_id"] in by_id:
            kept = by_id[c["concept_id"]]
            kept["aliases"] = sorted(set(kept["aliases"]) | set(c["aliases"]) | {c["term"]}
                                     - {kept["term"]})
            kept["statement_ids"] = sorted(set(kept["statement_ids"]) | set(c["statement_ids"]))
            kept["discipline_codes"] = sorted(set(kept["discipline_codes"])
                                              | set(c["discipline_codes"]))
        else:
            by_id[c["concept_id"]] = c
    return [by_id[k] for k in sorted(by_id)]


def kc_index(chains: list[dict], statements: list[dict], concepts: list[dict]) -> list[dict]:
    """Every link, in both directions: "all nodes linked to X" is one filter on src_id."""
    rows = []

    def link(src, skind, rel, inv, dst, dkind):
        rows.append({"src_id": src, "src_kind": skind, "relation": rel, "dst_id": dst,
                     "dst_kind": dkind})
        rows.append({"src_id": dst, "src_kind": dkind, "relation": inv, "dst_id": src,
                     "dst_kind": skind})

    for c in chains:
        link(c["chain_id"], "chain", "from_chunk", "has_chain", c["chunk_id"], "chunk")
    chunk_docs = {(s["chunk_id"], s["doc_id"]) for s in statements}
    chunk_docs |= {(c["chunk_id"], c["doc_id"]) for c in chains}
    for chunk_id, doc_id in chunk_docs:
        link(chunk_id, "chunk", "of_document", "has_chunk", doc_id, "document")
    for s in statements:
        if s["chain_id"]:
            link(s["chain_id"], "chain", "has_statement", "in_chain", s["statement_id"],
                 "statement")
        link(s["statement_id"], "statement", "quotes_chunk", "grounds_statement", s["chunk_id"],
             "chunk")
    for c in concepts:
        for sid in c["statement_ids"]:
            link(sid, "statement", "mentions_concept", "in_statement", c["concept_id"],
                 "concept")
    return sorted(rows, key=lambda r: (r["src_id"], r["relation"], r["dst_id"]))


def graph_qa(chains: list[dict], statements: list[dict], concepts: list[dict]) -> dict:
    """Orphans, dangling links, largest-component ratio and degrees of the L1-L2-L3 graph."""
    chain_ids = {c["chain_id"] for c in chains}
    stmt_ids = {s["statement_id"] for s in statements}
    dangling = sum(bool(s["chain_id"]) and s["chain_id"] not in chain_ids for s in statements)
    dangling += sum(sid not in stmt_ids for c in chains for sid in c["statement_ids"])
    dangling += sum(sid not in stmt_ids for c in concepts for sid in c["statement_ids"])
    nodes = list(chain_ids | stmt_ids | {c["concept_id"] for c in concepts})
    uf = _UF(nodes)
    for s in statements:
        if s["chain_id"] in chain_ids:
            uf.union(s["chain_id"], s["statement_id"])
    for c in concepts:
        for sid in c["statement_ids"]:
            if sid in stmt_ids:
                uf.union(sid, c["concept_id"])
    sizes = Counter(uf.find(n) for n in nodes)
    degree = [len(c["statement_ids"]) for c in concepts]
    per_stmt = Counter(sid for c in concepts for sid in c["statement_ids"])
    return {
        "nodes": {"chains": len(chain_ids), "statements": len(stmt_ids),
                  "concepts": len(concepts)},
        "dangling_links": dangling,
        "orphans": {
            "chains_without_statements": sum(not c["statement_ids"] for c in chains),
            "statements_outside_chains": sum(not s["chain_id"] for s in statements),
            "statements_without_concepts": sum(sid not in per_stmt for sid in stmt_ids),
            "concepts_without_statements": sum(not c["statement_ids"] for c in concepts),
        },
        "components": len(sizes),
        "largest_component_ratio": round(max(sizes.values()) / len(nodes), 4) if nodes else 0,
        "concept_degree": {"mean": round(float(np.mean(degree)), 3) if degree else 0,
                           "max": max(degree, default=0)},
    }
