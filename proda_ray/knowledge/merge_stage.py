"""The merge stage: extracted rows -> the Knowledge Core (chains, statements, concepts,
kc_index). No LLM calls, so re-merging with another threshold never touches the engine."""

from __future__ import annotations

import time

import pyarrow as pa

from proda_ray.knowledge.config import MergeConfig
from proda_ray.knowledge.merge import graph_qa, kc_index, link_mentions, merge_concepts
from proda_ray.schema import CHAINS, CONCEPTS, KC_INDEX, STATEMENTS
from proda_ray.workspace.stage import Stage, StageContext, StageResult


class MergeStage(Stage[MergeConfig]):
    name = "merge"
    config_model = MergeConfig
    inputs = ("extracted_chains", "extracted_statements", "concept_mentions")
    outputs = ("chains", "statements", "concepts", "kc_index")

    def run(self, ctx: StageContext) -> StageResult:
        ws, res = ctx.workspace, StageResult()
        t0 = time.perf_counter()
        read = lambda t: ws.read_parquet(ctx.inputs[t].path).to_pylist() \
            if ctx.inputs[t].rows else []  # noqa: E731
        chains = sorted(read("extracted_chains"), key=lambda c: c["chain_id"])
        statements = sorted(read("extracted_statements"), key=lambda s: s["statement_id"])
        mentions = read("concept_mentions")
        linked = link_mentions(mentions, statements)
        concepts = merge_concepts(mentions, self.config.similarity_threshold)
        by_stmt: dict[str, list[str]] = {}
        for c in concepts:
            for sid in c["statement_ids"]:
                by_stmt.setdefault(sid, []).append(c["concept_id"])
        for s in statements:
            s["concept_ids"] = sorted(by_stmt.get(s["statement_id"], []))
        index = kc_index(chains, statements, concepts)
        for name, rows, schema in (("chains", chains, CHAINS),
                                   ("statements", statements, STATEMENTS),
                                   ("concepts", concepts, CONCEPTS),
                                   ("kc_index", index, KC_INDEX)):
            ctx.write_table(name, pa.Table.from_pylist(rows, schema=schema))
            res.outputs[name] = ctx.table_info(name)
        res.counters.update(mentions=len(mentions), concepts=len(concepts),
                            concept_links_by_term=linked,
                            chains=len(chains), statements=len(statements),
                            kc_links=len(index))
        res.report = {"graph": graph_qa(chains, statements, concepts)}
        res.timings_s["merge"] = time.perf_counter() - t0
        return res
