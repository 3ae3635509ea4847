"""The debug stage: failures on ``dev`` -> nodes -> diagnosis -> patches -> ``sft_v{n+1}``.

1. Attribution: every ``dev`` prediction of round n is linked to its chain, statements and
   concepts (direct) and to its chain's other nodes (indirect); per-node failure counts and
   rates become the ranked ``node_failures`` table. ``test`` predictions are never read.
2. Classification: the round's model answers probes written from the failed items' L1/L2
   node texts (an actor pool holding the model, behind the response cache); per failed item
   the probe accuracy decides concept gap vs chain break (or unknown), with the evidence.
3. Patches from node texts only (statements with quotes, definitions, the chain's facts in
   step order), within a budget shared across disciplines by their failures; decontaminated
   against every benchmark item (dev and test) like the Builder's data.
4. Replay: the previous dataset's samples whose statements no patch touches (all of them, or
   as many as ``replay_ratio`` asks). Patches + replay are the new dataset ``sft_v{n+1}``
   (table ``sft_samples.r{n+1}``); the ``patches`` table links each patch sample to its
   failed items and nodes. Nothing of round n is overwritten.
"""

from __future__ import annotations

import json
import posixpath
import random
import time
from collections import Counter, defaultdict

import pyarrow as pa

from proda_ray.answering import answer_items, engine_for, open_engine, scoring_mode
from proda_ray.contracts import DebugReport, TrainReport
from proda_ray.debugger import attribution, patches, probes
from proda_ray.debugger.config import DebugConfig
from proda_ray.executors import UnitWorker
from proda_ray.ids import make_id
from proda_ray.rounds import dataset_name, rname
from proda_ray.schema import DIAGNOSES, NODE_FAILURES, PATCHES, REJECTED, SFT_SAMPLES
from proda_ray.workspace.rejections import rejected_table
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

BENCH_ID_COLUMNS = ["item_id", "split"]  # what the debugger reads of the benchmark (+ decontam)


class DebugStage(Stage[DebugConfig]):
    name = "debug"
    config_model = DebugConfig
    per_round = True

    def __init__(self, config: DebugConfig, *, round: int = 1):
        super().__init__(config, round=round)
        self.preds_t, self.train_t = self.table("predictions"), self.table("train_metrics")
        self.prev_t, self.next_t = self.table("sft_samples"), rname("sft_samples", round + 1)
        self.inputs = (self.preds_t, self.train_t, self.prev_t, "bench_items", "chains",
                       "statements", "concepts", "chunks")
        self.outputs = (self.table("node_failures"), self.table("diagnoses"),
                        self.table("patches"), self.next_t)
        self.blind_t = rname("sft_samples", round + 1, "blind") if config.blind_control \
            else None
        if self.blind_t:
            self.outputs += (self.blind_t,)

    def run(self, ctx: StageContext) -> StageResult:
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        t0 = time.perf_counter()
        preds = [p for p in ws.read_parquet(ctx.inputs[self.preds_t].path).to_pylist()
                 if p["split"] == "dev"]  # the only split the debugger ever sees
        chains = {c["chain_id"]: c for c in ws.read_parquet(
            ctx.inputs["chains"].path, columns=["chain_id", "discipline_code", "domain_context",
                                                "statement_ids"]).to_pylist()}
        stmts = {s["statement_id"]: s for s in ws.read_parquet(
            ctx.inputs["statements"].path).to_pylist()}
        for s in stmts.values():
            m = chains.get(s["chain_id"], {})
            # a statement of no chain keeps its own discipline (a standalone L2 fact)
            s["discipline_code"] = m.get("discipline_code") or s.get("discipline_code")
            s["domain"] = m.get("domain_context")
        concepts = {c["concept_id"]: c for c in ws.read_parquet(
            ctx.inputs["concepts"].path).to_pylist()}
        # a concept's field by name, as its items name it ("In Microbiology, ...")
        fields = ws.read_parquet(ctx.inputs["chunks"].path, columns=[
            "discipline_code", "discipline"]).group_by("discipline_code").aggregate(
            [("discipline", "max")]).to_pydict()
        names = dict(zip(fields["discipline_code"], fields["discipline_max"], strict=True))
        for c in concepts.values():
            c["domain"] = next((names[d] for d in c.get("discipline_codes") or []
                                if names.get(d)), None)
        for s in stmts.values():  # "In Sociology, …", not "In this field, …"
            s["domain"] = s["domain"] or names.get(s["discipline_code"])

        # 1. attribution
        nodes_t, diag_t, patch_t = self.outputs[:3]
        ranked = attribution.node_failures(preds, chains, stmts)
        ctx.write_table(nodes_t, pa.Table.from_pylist(ranked, schema=NODE_FAILURES))
        failed = [p for p in preds if not p["correct"]]
        by_disc = Counter(p["discipline_code"] or "unknown" for p in failed)
        failed = sorted(failed, key=lambda p: (-by_disc[p["discipline_code"] or "unknown"],
                                               p["item_id"]))[:cfg.max_failed_items]
        item_nodes = {p["item_id"]: attribution.item_nodes(p, chains, stmts) for p in failed}
        res.timings_s["attribute"] = time.perf_counter() - t0

        # 2. classification by probing
        t0 = time.perf_counter()
        answered: dict[str, dict] = {}
        if cfg.probe and failed:
            want: dict[str, set[str]] = defaultdict(set)
            for n in item_nodes.values():
                for kind in ("statement", "concept"):
                    want[kind] |= set(n[kind])
            plist = probes.build_probes(want, stmts, concepts, cfg.seed)
            answered = self._answer_probes(ctx, plist)
        diagnoses = []
        for p in failed:
            nodes = item_nodes[p["item_id"]]
            label, conf, ev = (probes.classify(nodes, answered, cfg.threshold) if cfg.probe
                               else ("unknown", 0.0, {"rule": "probing off", "probes": []}))
            node_ids = sorted({n for kind in nodes.values() for n, d in kind.items() if d})
            diagnoses.append({"diagnosis_id": make_id("diag", str(self.round), p["item_id"]),
                              "item_id": p["item_id"], "round": self.round, "label": label,
                              "node_ids": node_ids, "evidence_json": json.dumps(ev),
                              "confidence": conf, "discipline_code": p["discipline_code"],
                              "chain_id": p["chain_id"]})
        ctx.write_table(diag_t, pa.Table.from_pylist(diagnoses, schema=DIAGNOSES))
        res.timings_s["classify"] = time.perf_counter() - t0

        # 3. patches within the budget (LLM-written ones first, when asked for)
        t0 = time.perf_counter()
        llm_by_stmt, llm_rejected = {}, []
        if "llm" in cfg.generators and diagnoses:
            facts = sorted({s for d in diagnoses if d["label"] != "chain_break"
                            for s, direct in item_nodes[d["item_id"]]["statement"].items()
                            if direct and s in stmts})[:cfg.patch_budget]
            jobs = [{"statement": stmts[s], "task": cfg.teacher_tasks[k % len(cfg.teacher_tasks)]}
                    for k, s in enumerate(facts)]
            made, llm_rejected, usage = ctx.call(
                _llm_patches, ws, jobs, {c: concepts[c] for j in jobs for c in
                                         j["statement"].get("concept_ids") or [] if c in concepts},
                cfg.model_dump(mode="json"))
            res.usage.merge(usage)
            for m in made:
                llm_by_stmt.setdefault(m["statement_ids"][0], []).append(m)
        samples, manifest, plan = self._patches(diagnoses, item_nodes, answered, stmts,
                                                concepts, chains, llm_by_stmt)
        kept, rejected, dropped = _decontaminate(
            ctx, ctx.inputs["bench_items"].path, samples, cfg,
            {t: ctx.inputs[t].path for t in ("statements", "concepts", "chains")})
        if llm_rejected:
            rejected = pa.concat_tables([rejected, rejected_table(llm_rejected).cast(REJECTED)])
            for r in llm_rejected:
                dropped[f"llm:{r.reason}"] += 1
        kept_ids = {s["sample_id"] for s in kept}
        manifest = [m for m in manifest if m["sample_id"] in kept_ids]
        res.timings_s["patch"] = time.perf_counter() - t0

        # 4. replay + the next dataset
        prev = [s for s in ws.read_parquet(ctx.inputs[self.prev_t].path).to_pylist()
                if s["dataset"] == dataset_name(self.round)]
        touched = {sid for s in kept for sid in s["statement_ids"]}
        pool = sorted((s for s in prev if not touched & set(s["statement_ids"] or [])),
                      key=lambda s: s["sample_id"])
        if cfg.replay_ratio is not None:
            n = min(len(pool), round(len(kept) * (1 - cfg.replay_ratio) / cfg.replay_ratio))
            pool = sorted(random.Random(f"{cfg.seed}:replay").sample(pool, n),
                          key=lambda s: s["sample_id"])
        nxt = dataset_name(self.round + 1)
        rows = ([s | {"dataset": nxt} for s in kept]
                + [s | {"dataset": nxt, "generator": "replay"} for s in pool])
        ctx.write_table(patch_t, pa.Table.from_pylist(manifest, schema=PATCHES))
        ctx.write_table(self.next_t, pa.Table.from_pylist(rows, schema=SFT_SAMPLES))
        blind: list[dict] = []
        if self.blind_t:  # the control arm: as many samples, nodes drawn without diagnosis
            t0b = time.perf_counter()
            blind = self._blind(ctx, len(kept), stmts, concepts, chains)
            bname = dataset_name(self.round + 1, "blind")
            ctx.write_table(self.blind_t, pa.Table.from_pylist(
                [s | {"dataset": bname} for s in blind]
                + [s | {"dataset": bname, "generator": "replay"} for s in pool],
                schema=SFT_SAMPLES))
            res.timings_s["blind"] = time.perf_counter() - t0b
        ctx.write_table(f"{self.next_t}.rejected", rejected)
        res.outputs = {t: ctx.table_info(t) for t in self.outputs}
        res.outputs[f"{self.next_t}.rejected"] = ctx.table_info(f"{self.next_t}.rejected")
        for reason, n in dropped.items():
            res.rejected[self.next_t][reason] = n
        labels = Counter(d["label"] for d in diagnoses)
        res.counters.update({"dev_items": len(preds), "failed": len(failed),
                             "probes": len(answered), "patches": len(kept),
                             "blind_samples": len(blind),
                             "replay": len(pool), f"{nxt}_samples": len(rows)})
        res.counters.update({f"label:{k}": v for k, v in labels.items()})
        res.report = DebugReport.model_validate({
            "round": self.round, "dataset": nxt, "dev_items": len(preds),
            "dev_accuracy": (sum(p["correct"] for p in preds) / len(preds)) if preds else None,
            "failed": len(failed), "labels": dict(labels),
            "failures_by_discipline": dict(by_disc), "budget": plan,
            "probe_accuracy": (sum(a["correct"] for a in answered.values()) / len(answered))
            if answered else None,
            "patches_by_task": dict(Counter(s["task_type"] for s in kept)),
            "decontamination_dropped": dict(dropped), "replay": len(pool),
            "blind": {"dataset": dataset_name(self.round + 1, "blind"), "samples": len(blind),
                      "by_task": dict(Counter(s["task_type"] for s in blind)),
                      "nodes_shared_with_targeted": len(
                          {x for s in blind for x in s["statement_ids"]}
                          & {x for s in kept for x in s["statement_ids"]})}
            if self.blind_t else None,
            "previous_samples": len(prev),
            "weakest_nodes": [{k: r[k] for k in ("rank", "node_kind", "node_id", "items",
                                                 "failed", "direct_failed")}
                              for r in ranked[:15]]})
        return res

    # --- helpers ---------------------------------------------------------------------------

    def _answer_probes(self, ctx: StageContext, plist: list[dict]) -> dict[str, dict]:
        ws, cfg = ctx.workspace, self.config
        if not plist:
            return {}
        model = ctx.producer_report(self.train_t, TrainReport).model
        engine_json = engine_for(cfg.engine, model, cfg.prompt_format).model_dump(mode="json")
        units = []
        for i in range(0, len(plist), 64):
            key = f"p{i // 64:06d}"
            ws.write_json(posixpath.join(ctx.scratch, "probes", f"{key}.json"),
                          plist[i:i + 64])
            units.append({"key": key})
        ctx.map_units("probe_units", units, _ProbeUnit, ws, ctx.scratch,
                      cfg.model_dump(mode="json"), engine_json,
                      resources=Resources.for_engine(
                          engine_json["kind"], max_concurrency=cfg.workers,
                          drives_cluster=engine_json["kind"] == "vllm"))
        out = {}
        for u in units:
            for p in ws.read_json(posixpath.join(ctx.scratch, "probe_answers",
                                                 f"{u['key']}.json")):
                out[p["node_id"]] = p
        return out

    def _blind(self, ctx: StageContext, n: int, stmts: dict, concepts: dict,
               chains: dict) -> list[dict]:
        """``n`` samples from the patch templates over nodes drawn at random (seeded) from
        the whole knowledge core — no failure, probe or attribution is read — decontaminated
        like the targeted patches. Chains get the chain scaffolds, statements and defined
        concepts the knowledge injection (without a contrast: that needs the model's wrong
        probe answer)."""
        if n <= 0:
            return []
        rng = random.Random(f"{self.config.seed}:blind:{self.round}")
        nodes = ([("chain", c) for c in sorted(chains)]
                 + [("statement", s) for s in sorted(stmts)]
                 + [("concept", c) for c in sorted(concepts)
                    if (concepts[c].get("definition") or "").strip()])
        rng.shuffle(nodes)
        neighbours = _neighbours(concepts, stmts)
        out: dict[str, dict] = {}
        for start in range(0, len(nodes), max(1, 2 * n)):
            made: list[dict] = []
            for kind, nid in nodes[start:start + max(1, 2 * n)]:
                if kind == "chain":
                    made += patches.chain_break_samples(
                        [stmts[s] for s in chains[nid].get("statement_ids") or []
                         if s in stmts])
                elif kind == "concept":
                    made += patches.concept_gap_samples([], [concepts[nid]], {}, neighbours)
                else:
                    s = stmts[nid]
                    made += patches.concept_gap_samples(
                        [s], [concepts[c] for c in s.get("concept_ids") or [] if c in concepts],
                        {}, neighbours)
            made = [m for m in made if m["sample_id"] not in out]
            kept, _, _ = _decontaminate(
                ctx, ctx.inputs["bench_items"].path, made, self.config,
                {t: ctx.inputs[t].path for t in ("statements", "concepts", "chains")})
            order = {m["sample_id"]: i for i, m in enumerate(made)}
            for m in sorted(kept, key=lambda m: order[m["sample_id"]]):
                if len(out) < n:
                    out[m["sample_id"]] = m
            if len(out) >= n:
                break
        return sorted(out.values(), key=lambda m: m["sample_id"])

    def _patches(self, diagnoses, item_nodes, answered, stmts, concepts, chains,
                 llm_by_stmt=None):
        """Patch samples and manifest rows within the budget (largest-remainder shares per
        discipline by failures; within one, failed items in order, ``per_item`` at most)."""
        from proda_ray.builder.templates import claim, plan_counts

        cfg = self.config
        by_disc: dict[str, list[dict]] = defaultdict(list)
        for d in diagnoses:
            by_disc[d["discipline_code"] or "unknown"].append(d)
        total = sum(len(v) for v in by_disc.values())
        plan = plan_counts(min(cfg.patch_budget, total * cfg.per_item),
                           {k: len(v) / total for k, v in by_disc.items()}) if total else {}
        neighbours = _neighbours(concepts, stmts)
        samples: dict[str, dict] = {}
        rows: list[dict] = []
        for disc, diags in sorted(by_disc.items()):
            budget = plan.get(disc, 0)
            for d in diags:
                if budget <= 0:
                    break
                nodes = item_nodes[d["item_id"]]
                direct_s = [stmts[s] for s, dr in nodes["statement"].items()
                            if dr and s in stmts] or [stmts[s] for s in nodes["statement"]
                                                      if s in stmts]
                if d["label"] == "chain_break":
                    chain = chains.get(d["chain_id"]) or {}
                    made = patches.chain_break_samples(
                        [stmts[s] for s in chain.get("statement_ids") or [] if s in stmts])
                else:  # concept gap, or unknown: inject the knowledge
                    wrong = {}
                    for s in direct_s:
                        a = answered.get(s["statement_id"])
                        if a and not a["correct"] and a["predicted"]:
                            k = "ABCD".index(a["predicted"][0])
                            if a["options"][k] != claim(s):
                                wrong[s["statement_id"]] = a["options"][k]
                    cids = sorted({c for s in direct_s for c in s.get("concept_ids") or []}
                                  | {c for c, dr in nodes["concept"].items() if dr})
                    made = [m for s in direct_s for m in (llm_by_stmt or {}).get(
                        s["statement_id"], [])] + patches.concept_gap_samples(
                        direct_s, [concepts[c] for c in cids if c in concepts], wrong,
                        neighbours)
                made = [m for m in made if m["sample_id"] not in samples][:min(cfg.per_item,
                                                                               budget)]
                for m in made:
                    samples[m["sample_id"]] = m
                    rows.append(patches.manifest_row(
                        m, self.round, [d["item_id"]],
                        [*filter(None, [d["chain_id"]]), *m["statement_ids"],
                         *m["concept_ids"]], d["label"]))
                budget -= len(made)
        return list(samples.values()), rows, plan


def _llm_patches(ws: Workspace, jobs: list[dict], concepts: dict, cfg_json: dict):
    """The Builder's LLM generator over the implicated facts (grounding and copy gates),
    behind the response cache: (samples, rejections, usage)."""
    from proda_ray.builder.llm import llm_rejections, llm_samples
    from proda_ray.engines import CachedEngine, ResponseCache, build_engine

    cfg = DebugConfig.model_validate(cfg_json)
    engine = CachedEngine(build_engine(cfg.teacher), ResponseCache(ws))
    made, failed = llm_samples(jobs, concepts, engine, cfg.temperature,
                               cfg.teacher_max_tokens, cfg.retries, cfg.seed)
    out = [m | {"generator": "patch", "task_type": f"patch_llm_{m['task_type']}"}
           for m in made]
    return out, llm_rejections(failed), engine.usage


def _neighbours(concepts: dict[str, dict], stmts: dict[str, dict]) -> dict[str, dict]:
    """Per concept, another defined concept taught beside it — of the same chain, else the
    same chunk, else the same document — to contrast ("what X is and what it is not").
    Never one of another discipline, nor one merely of the same field: a contrast between
    unrelated terms ("class system" and "Lexicon") teaches nothing."""
    defined = {c for c, v in concepts.items() if (v.get("definition") or "").strip()}
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in stmts.values():
        for c in s.get("concept_ids") or []:
            if c in defined:
                for level in ("chain_id", "chunk_id", "doc_id"):
                    if s.get(level):
                        groups[(level, s[level])].add(c)

    def disc(c: str) -> set[str]:
        return set(concepts[c].get("discipline_codes") or [])

    out = {}
    for level in ("chain_id", "chunk_id", "doc_id"):  # the closest context first
        for key, members in sorted(groups.items()):
            if key[0] != level or len(members) < 2:
                continue
            uniq = sorted(members)
            for i, c in enumerate(uniq):
                if c in out:
                    continue
                for other in uniq[i + 1:] + uniq[:i]:
                    if concepts[other]["term"].strip().lower() != \
                            concepts[c]["term"].strip().lower() and \
                            (not disc(c) or not disc(other) or disc(c) & disc(other)):
                        out[c] = concepts[other]
                        break
    return out


def _decontaminate(ctx: StageContext, bench_rel: str, samples: list[dict], cfg: DebugConfig,
                   knowledge: dict[str, str]):
    return ctx.call(_decontam_task, ctx.workspace, bench_rel, samples,
                    cfg.model_dump(mode="json"), knowledge)


def _decontam_task(ws: Workspace, bench_rel: str, samples: list[dict], cfg_json: dict,
                   knowledge: dict[str, str]):
    """Patches vs every benchmark item (every split) — their item-specific text; the
    knowledge core's texts (``knowledge``: table paths) are what both may quote:
    (kept, rejected table, reasons)."""
    from proda_ray.builder.decontam import for_benchmark, knowledge_texts, sort_out

    cfg = DebugConfig.model_validate(cfg_json)
    items = ws.read_parquet(bench_rel, columns=["item_id", "question", "options",
                                                "explanation"]).to_pylist()
    kept, rejected = sort_out(for_benchmark(items, cfg.decontam,
                                            knowledge_texts(ws, knowledge)), samples)
    dropped = Counter(f"decontam:{r.reason}" for r in rejected)
    return (sorted(kept, key=lambda s: s["sample_id"]),
            rejected_table(rejected).cast(REJECTED), dropped)


class _ProbeUnit(UnitWorker):
    """Holds the round's model; answers one unit of probes."""

    def setup(self, ws: Workspace, scratch: str, cfg_json: dict, engine_json: dict) -> None:
        self.ws, self.scratch = ws, scratch
        self.cfg = DebugConfig.model_validate(cfg_json)
        self.engine = open_engine(ws, engine_json)

    def process(self, unit: dict) -> Tally:
        key = unit["key"]
        plist = self.ws.read_json(posixpath.join(self.scratch, "probes", f"{key}.json"))
        answers = answer_items(self.engine, plist, self.cfg.max_tokens, self.cfg.stop,
                               scoring_mode(self.engine, self.cfg), self.cfg.prompt_format,
                               self.cfg.constrain)
        out = [p | {"predicted": a["predicted"], "correct": a["correct"],
                    "raw_output": a["raw_output"]} for p, a in zip(plist, answers, strict=True)]
        self.ws.write_json(posixpath.join(self.scratch, "probe_answers", f"{key}.json"), out)
        return Tally(counters={"probes": len(out), "correct": sum(a["correct"] for a in out)})
