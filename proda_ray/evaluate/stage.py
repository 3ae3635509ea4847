"""The eval stage: every benchmark item answered by a model, scored and tabulated.

1. Resolve the model: the round's trained export (from its train stage's manifest), that
   run's base (the untrained reference), a directory/URI, or whatever an engine serves.
2. Items (sorted, in units of ``unit_items``) go through the engine layer with the response
   cache in front: a rerun, or a killed run resumed, spends nothing on items already answered.
   Units run on a worker pool (each worker holds the model; on Ray, actors); vLLM units run
   inline (one ``ray.data.llm`` pipeline per unit, its own replicas).
3. Answers are extracted and scored (exact set, partial credit); the ``predictions`` table
   carries every item's raw output, parse status and knowledge-node ids; ``node_accuracy``
   has one row per (node, split).
4. The report: accuracy with bootstrap intervals per split, discipline, question type and
   knowledge level; the weakest nodes on ``dev``; for round n > 1 the item-level comparison
   with round n-1 (fixed / broken / still failing, paired-bootstrap interval of the change).
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter

import pyarrow as pa

from proda_ray.answering import answer_items, engine_for, open_engine, scoring_mode
from proda_ray.contracts import EvalReport, TrainReport
from proda_ray.engines.base import preflight
from proda_ray.evaluate import metrics
from proda_ray.evaluate.config import EvalConfig
from proda_ray.executors import UnitWorker
from proda_ray.ids import content_hash
from proda_ray.rounds import rname
from proda_ray.schema import NODE_ACCURACY, PREDICTIONS
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

ITEM_COLUMNS = ["item_id", "split", "chain_id", "chunk_id", "doc_id", "statement_ids",
                "concept_ids", "discipline_code", "question_type", "question", "options",
                "answer"]


class EvalStage(Stage[EvalConfig]):
    name = "eval"
    config_model = EvalConfig
    inputs = ("bench_items", "train_metrics")
    outputs = ("predictions", "node_accuracy")
    per_round = True

    def __init__(self, config: EvalConfig, *, round: int = 1, label: str | None = None,
                 arm: str | None = None):
        """``round``: whose trained model (and, for n > 1, which round to compare with).
        ``label`` names a reference evaluation instead (``eval.<label>``; e.g. ``base``).
        ``arm="blind"``: the round's control model, compared with the previous round and
        with the round's targeted model (``vs_targeted``: targeted − blind, paired)."""
        super().__init__(config, round=round, arm=arm, label=label)
        self.outputs = (self.table("predictions"), self.table("node_accuracy"))
        needs_train = config.model in ("trained", "base")
        self.train_t = rname("train_metrics", round, arm)
        self.inputs = ("bench_items",) + ((self.train_t,) if needs_train else ())
        self.previous = rname("predictions", round - 1) if round > 1 and not label else None
        if self.previous:
            self.inputs += (self.previous,)
        self.targeted = rname("predictions", round) if arm else None
        if self.targeted:
            self.inputs += (self.targeted,)

    def external_inputs(self) -> dict[str, str]:
        m = self.config.model
        if m in ("trained", "base", "engine"):
            return {}
        return {"model": _dir_signature(m)}  # a changed checkpoint re-runs the evaluation

    def run(self, ctx: StageContext) -> StageResult:
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        train = (ctx.producer_report(self.train_t, TrainReport)
                 if cfg.model in ("trained", "base") else None)
        model = self._model(train)
        engine_cfg = self._engine_config(model, train)
        preflight(engine_cfg)  # a served model that does not answer fails the stage, now
        items = [r for r in ws.read_parquet(ctx.inputs["bench_items"].path,
                                            columns=ITEM_COLUMNS).to_pylist()
                 if r["split"] in cfg.splits]
        items.sort(key=lambda r: r["item_id"])
        if not items:
            raise ValueError(f"no benchmark items in splits {cfg.splits}")
        units = []
        for i in range(0, len(items), cfg.unit_items):
            key = f"u{i // cfg.unit_items:06d}"
            ws.write_json(posixpath.join(ctx.scratch, "inputs", f"{key}.json"),
                          items[i:i + cfg.unit_items])
            units.append({"key": key})
        t0 = time.perf_counter()
        run = ctx.map_units("units", units, _EvalUnit, ws, ctx.scratch,
                            cfg.model_dump(mode="json"), engine_cfg.model_dump(mode="json"),
                            model or "", resources=Resources.for_engine(
                                engine_cfg.kind, num_cpus=cfg.cpus_per_worker,
                                max_concurrency=cfg.workers,
                                drives_cluster=engine_cfg.kind == "vllm"))
        res.timings_s["answer"] = time.perf_counter() - t0
        res.usage, res.run_usage = run.usage, run.run_usage  # all runs, this run
        res.counters.update(run.counters)
        rows = []
        for u in units:
            rows += ws.read_parquet(posixpath.join(ctx.scratch, "answers",
                                                   f"{u['key']}.parquet")).to_pylist()
        pred_t, node_t = self.outputs
        ctx.write_table(pred_t, pa.Table.from_pylist(rows, schema=PREDICTIONS))
        nodes = metrics.node_table(rows)
        ctx.write_table(node_t, pa.Table.from_pylist(nodes, schema=NODE_ACCURACY))
        res.outputs = {t: ctx.table_info(t) for t in self.outputs}
        rep = self._report(ctx, rows, nodes, model, engine_cfg)
        rep["items_per_s"] = len(items) / max(res.timings_s["answer"], 1e-9)
        res.report = EvalReport.model_validate(rep)
        return res

    # --- helpers ---------------------------------------------------------------------------

    def _model(self, train: TrainReport | None) -> str | None:
        """The model to evaluate; ``train`` is the round's train report (when one is read)."""
        m = self.config.model
        if m == "engine":
            return None
        if train is not None and m in ("trained", "base"):
            return train.model if m == "trained" else train.base_dir
        return m

    def _engine_config(self, model: str | None, train: TrainReport | None):
        ec = engine_for(self.config.engine, model, self.config.prompt_format)
        if self.config.adapter and self.config.model == "trained" and train is not None:
            if ec.kind != "transformers":
                raise ValueError("eval.adapter needs the transformers engine")
            if train.method != "lora":
                raise ValueError("eval.adapter: the round's training was not LoRA")
            ec = ec.model_copy(update={"model_path": train.base_dir,
                                       "adapter_path": train.adapter})
        return ec

    def _report(self, ctx: StageContext, rows: list[dict], nodes: list[dict],
                model: str | None, engine_cfg) -> dict:
        cfg = self.config
        nb, seed = cfg.bootstrap, cfg.seed
        splits = sorted({r["split"] for r in rows})
        per = {s: [r for r in rows if r["split"] == s] for s in splits}
        rep: dict = {
            "model": model, "engine": engine_cfg.kind, "round": self.round, "label": self.label,
            "arm": self.arm or ("targeted" if self.round > 1 and not self.label else None),
            "overall": {s: metrics.summarize(v, nb, seed) for s, v in per.items()},
            "by_discipline": {s: metrics.by_group(v, "discipline_code", nb, seed)
                              for s, v in per.items()},
            "by_question_type": {s: metrics.by_group(v, "question_type", nb, seed)
                                 for s, v in per.items()},
            "by_level": {s: metrics.by_level(nodes, s, nb, seed) for s in splits},
            "parse_status": dict(Counter(r["parse_status"] for r in rows)),
        }
        dev_nodes = [n for n in nodes if n["split"] == "dev" and n["node_kind"] != "chain"]
        dev_nodes.sort(key=lambda n: (n["accuracy"], -n["items"], n["node_id"]))
        rep["weakest_nodes"] = [n | {"ci": metrics.node_ci(n)} for n in dev_nodes[:cfg.weakest]]
        if self.previous:
            prev = ctx.workspace.read_parquet(ctx.inputs[self.previous].path).to_pylist()
            rep["vs_previous"] = metrics.compare(prev, rows, nb, seed)
        if self.targeted:  # the control: how much more the diagnosis bought
            tgt = ctx.workspace.read_parquet(ctx.inputs[self.targeted].path).to_pylist()
            rep["vs_targeted"] = metrics.compare(rows, tgt, nb, seed)
        return rep


class _EvalUnit(UnitWorker):
    """Holds one engine (the model loaded once) and answers units of items."""

    def setup(self, ws: Workspace, scratch: str, cfg_json: dict, engine_json: dict,
              model: str) -> None:
        self.ws, self.scratch = ws, scratch
        self.cfg = EvalConfig.model_validate(cfg_json)
        self.model = model
        self.engine = open_engine(ws, engine_json)

    def process(self, unit: dict) -> Tally:
        from proda_ray.engines import Usage

        key = unit["key"]
        items = self.ws.read_json(posixpath.join(self.scratch, "inputs", f"{key}.json"))
        self.engine.usage = Usage()
        answers = answer_items(self.engine, items, self.cfg.max_tokens, self.cfg.stop,
                               scoring_mode(self.engine, self.cfg), self.cfg.prompt_format,
                               self.cfg.constrain)
        rows, c = [], Counter()
        for it, a in zip(items, answers, strict=True):
            c[f"parse:{a['parse_status']}"] += 1
            c["correct"] += int(a["correct"])
            rows.append(a | {
                "prediction_id": "pred-" + content_hash(self.model, it["item_id"])[:16],
                "item_id": it["item_id"], "model": self.model, "split": it["split"],
                "chain_id": it["chain_id"], "statement_ids": it["statement_ids"] or [],
                # the resampling unit of the intervals: items of one chain (or chunk) share text
                "cluster_id": it["chain_id"] or it.get("chunk_id") or it.get("doc_id")
                or it["item_id"],
                "concept_ids": it["concept_ids"] or [],
                "discipline_code": it["discipline_code"],
                "question_type": it["question_type"], "gold": it["answer"]})
        c["items"] = len(rows)
        self.ws.write_parquet(posixpath.join(self.scratch, "answers", f"{key}.parquet"),
                              pa.Table.from_pylist(rows, schema=PREDICTIONS))
        return Tally.of(c, usage=self.engine.usage)


def _dir_signature(path: str) -> str:
    """Names, sizes and mtimes of a model directory's files (cheap; changes with the model)."""
    import pyarrow.fs as pafs

    from proda_ray.workspace.storage import open_filesystem

    fs, root = open_filesystem(path)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    sig = sorted((posixpath.relpath(i.path, root), i.size, str(i.mtime)) for i in infos
                 if i.type == pafs.FileType.File)
    return content_hash(path, repr(sig))
