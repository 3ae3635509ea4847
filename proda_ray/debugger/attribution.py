"""Failure attribution: failed ``dev`` items -> the knowledge nodes responsible.

An item is linked *directly* to its chain, the statements it was built from and their
concepts (ids the benchmark item carries). Through the knowledge core it is also linked
*indirectly* to every other statement of its chain and their concepts (a chain item may fail
because of a fact the item does not name). Per node we count the dev items touching it and
the failed ones; the ranked table puts nodes that fail often, and directly, first.

Only ids cross from the benchmark into the debugger's outputs: never item text or answers.
"""

from __future__ import annotations

from collections import defaultdict


def item_nodes(item: dict, chains: dict[str, dict], statements: dict[str, dict]
               ) -> dict[str, dict[str, bool]]:
    """{kind: {node_id: direct?}} for one prediction row (kinds: chain, statement, concept)."""
    out: dict[str, dict[str, bool]] = {"chain": {}, "statement": {}, "concept": {}}
    cid = item.get("chain_id")
    if cid:  # L1 and L2 items have no chain
        out["chain"][cid] = True
    for s in item.get("statement_ids") or []:
        out["statement"][s] = True
    for c in item.get("concept_ids") or []:
        out["concept"][c] = True
    chain = chains.get(cid) or {}
    for s in chain.get("statement_ids") or []:
        out["statement"].setdefault(s, False)
    for s in list(out["statement"]):
        for c in (statements.get(s) or {}).get("concept_ids") or []:
            out["concept"].setdefault(c, False)
    return out


def node_failures(preds: list[dict], chains: dict[str, dict], statements: dict[str, dict]
                  ) -> list[dict]:
    """Per node: dev items linked (direct/any), failed ones, failure rates; ranked weakest
    first (most direct failures, then highest direct failure rate, then any-link failures)."""
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    failed_items: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in preds:
        bad = not p["correct"]
        for kind, nodes in item_nodes(p, chains, statements).items():
            for nid, direct in nodes.items():
                cell = acc[(kind, nid)]
                cell[0] += 1
                cell[1] += int(bad)
                if direct:
                    cell[2] += 1
                    cell[3] += int(bad)
                if bad:
                    failed_items[(kind, nid)].append(p["item_id"])
    rows = [{"node_kind": k, "node_id": n, "items": v[0], "failed": v[1],
             "failure_rate": v[1] / v[0], "direct_items": v[2], "direct_failed": v[3],
             "direct_failure_rate": v[3] / v[2] if v[2] else 0.0,
             "failed_item_ids": sorted(failed_items[(k, n)])}
            for (k, n), v in acc.items()]
    rows.sort(key=lambda r: (-r["direct_failed"], -r["direct_failure_rate"], -r["failed"],
                             r["node_kind"], r["node_id"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows
