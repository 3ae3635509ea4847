"""The eval stage: every benchmark item answered by a model, scored and tabulated.

1. Resolve the model: the round's trained export (from its train stage's manifest), that
   run's base (the untrained reference), a directory/URI, or whatever an engine serves.
2. Items (sorted, in units of ``unit_items``) go through the engine layer with the response
   cache in front: a rerun, or a killed run resumed, spends nothing on items already answered.
   Units run on a Ray Data actor pool (each actor holds the model); vLLM units run inline
   (one ``ray.data.llm`` pipeline per unit, its own replicas).
3. Answers are extracted and scored (exact set, partial credit); the ``predictions`` table
   carries every item's raw output, parse status and knowledge-node ids; ``node_accuracy``
   has one row per (node, split).
4. The report: accuracy with bootstrap intervals per split, discipline, question type and
   knowledge level; the weakest nodes on ``dev``; for round n > 1 the item-level comparison
   with round n-1 (fixed / broken / still failing, paired-bootstrap interval of the change).
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections import Counter

import numpy as np
import pyarrow as pa

from proda_ray.engines import (
    CachedEngine,
    GenerationRequest,
    ResponseCache,
    SamplingParams,
    ScoringRequest,
)
from proda_ray.engines.base import TransformersEngineConfig, build_engine
from proda_ray.evaluate import metrics
from proda_ray.evaluate.answers import extract_answer, score
from proda_ray.evaluate.config import EvalConfig
from proda_ray.exports import (
    LETTERS,
    MCQ_INSTRUCTION,
    SINGLE_INSTRUCTION,
    answer_sets,
    mcq_prompt,
    single_choice,
)
from proda_ray.ids import content_hash
from proda_ray.rounds import rname
from proda_ray.runtime import configure_data_context, run_units, worker_count
from proda_ray.schema import NODE_ACCURACY, PREDICTIONS
from proda_ray.workspace.stage import Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace

ITEM_COLUMNS = ["item_id", "split", "chain_id", "chunk_id", "doc_id", "statement_ids",
                "concept_ids", "discipline_code", "question_type", "question", "options",
                "answer"]


class EvalStage(Stage[EvalConfig]):
    name = "eval"
    config_model = EvalConfig
    inputs = ("bench_items", "train_metrics")
    outputs = ("predictions", "node_accuracy")
    code_modules = ("proda_ray.evaluate", "proda_ray.schema", "proda_ray.exports")

    def __init__(self, config: EvalConfig, *, round: int = 1, label: str | None = None,
                 arm: str | None = None):
        """``round``: whose trained model (and, for n > 1, which round to compare with).
        ``label`` names a reference evaluation instead (``eval.<label>``; e.g. ``base``).
        ``arm="blind"``: the round's control model, compared with the previous round and
        with the round's targeted model (``vs_targeted``: targeted − blind, paired)."""
        super().__init__(config)
        self.round, self.label, self.arm = round, label, arm
        suffix = (lambda t: f"{t}.{label}") if label else (lambda t: rname(t, round, arm))
        self.name = suffix("eval")
        self.outputs = (suffix("predictions"), suffix("node_accuracy"))
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
        configure_data_context(ctx.show_progress)
        ws, cfg, res = ctx.workspace, self.config, StageResult()
        train = (ctx.producer_report(self.train_t)
                 if cfg.model in ("trained", "base") else {})
        model = self._model(train)
        engine_cfg = self._engine_config(model, train)
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
        inline = engine_cfg.kind == "vllm"
        run = run_units(ws, ctx.scratch, "units", units, _EvalUnit,
                        (ws, ctx.scratch, cfg.model_dump(mode="json"),
                         engine_cfg.model_dump(mode="json"), model or ""),
                        worker_count(cfg.workers), actors=True, inline=inline,
                        num_cpus=cfg.cpus_per_worker)
        res.timings_s["answer"] = time.perf_counter() - t0
        res.usage = run.usage()
        res.counters.update(run.counters())
        rows = []
        for u in units:
            rows += ws.read_parquet(posixpath.join(ctx.scratch, "answers",
                                                   f"{u['key']}.parquet")).to_pylist()
        pred_t, node_t = self.outputs
        ctx.write_table(pred_t, pa.Table.from_pylist(rows, schema=PREDICTIONS))
        nodes = metrics.node_table(rows)
        ctx.write_table(node_t, pa.Table.from_pylist(nodes, schema=NODE_ACCURACY))
        res.outputs = {t: ctx.table_info(t) for t in self.outputs}
        res.report = self._report(ctx, rows, nodes, model, engine_cfg)
        res.report["items_per_s"] = len(items) / max(res.timings_s["answer"], 1e-9)
        return res

    # --- helpers ---------------------------------------------------------------------------

    def _model(self, train: dict) -> str | None:
        """The model to evaluate; ``train`` is the round's train report (when one is read)."""
        m = self.config.model
        if m == "engine":
            return None
        if m in ("trained", "base"):
            return train["model"] if m == "trained" else train["base_dir"]
        return m

    def _engine_config(self, model: str | None, train: dict):
        ec = engine_for(self.config.engine, model, self.config.prompt_format)
        if self.config.adapter and self.config.model == "trained":
            if ec.kind != "transformers":
                raise ValueError("eval.adapter needs the transformers engine")
            if train.get("method") != "lora":
                raise ValueError("eval.adapter: the round's training was not LoRA")
            ec = ec.model_copy(update={"model_path": train["base_dir"],
                                       "adapter_path": train["model"].rsplit("/", 1)[0]
                                       + "/adapter"})
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


PLAIN_USER, PLAIN_ASSISTANT = "<|user|>\n", "\n<|assistant|>\n"
# the prompt without a question: what a model expects as an answer from the format alone
NULL_QUESTION = f"{MCQ_INSTRUCTION}\n\nAnswer:"
NULL_SINGLE = f"{SINGLE_INSTRUCTION}\n\nAnswer:"


def format_prompt(prompt: str, prompt_format: str, engine_kind: str) -> str:
    """The prompt as the model sees it. The transformers engine applies proda's plain chat
    template itself (``chat_template="plain"``, tokenized as in training); other engines get
    it rendered here, so every model compared sees one format."""
    if prompt_format == "plain_chat" and engine_kind != "transformers":
        return f"{PLAIN_USER}{prompt}{PLAIN_ASSISTANT}"
    return prompt


def scoring_mode(engine, cfg) -> str:
    """generate or loglikelihood for this engine under ``cfg`` (an EvalConfig)."""
    if cfg.scoring != "auto":
        return cfg.scoring
    inner = getattr(engine, "engine", engine)
    n = getattr(inner, "parameters", None)
    return "loglikelihood" if n is not None and n < cfg.small_model_params else "generate"


def answer_lead(engine, prompt_format: str) -> str:
    """What comes before an answer as the model would write it: a space after a raw
    "Answer:", nothing at the start of an assistant turn. The student is trained with its
    responses beginning the turn, tokenized without a space, and " thoskel" and "thoskel"
    are different tokens: scored with the space, a student that had learned the key at the
    turn's start was read as preferring options it had merely seen (planted core, 48
    concepts: 27% of test term items right with the space, 62% without)."""
    if prompt_format == "plain_chat":
        return ""
    if prompt_format == "engine" and getattr(getattr(engine, "engine", engine), "chat", False):
        return ""
    return " "


def _continuations(sets, lead: str) -> tuple[str, ...]:
    """Answer sets as the model continues the prompt (scored or generated alike)."""
    return tuple(lead + a for a in sets)


def answer_items(engine, items: list[dict], max_tokens: int, stop: list[str],
                 scoring: str = "generate", prompt_format: str = "raw",
                 constrain: bool = False) -> list[dict]:
    """Ask ``engine`` every 4-option item (``question``, ``options``, ``answer``); per item:
    raw output, extracted letters, parse status, exact-set correct, partial credit and the
    engine error (a failed request is an ``error`` status, scored wrong).

    ``generate``: greedy text, read by ``extract_answer`` (``constrain``: the text is one
    of the item's answer sets, the engine's guided choice). ``loglikelihood``: the answer
    (of the item's four letters or 15 sets, ``exports.answer_sets``) the question makes most
    likely: its log-likelihood after the prompt minus its
    log-likelihood after the same prompt with no question (``NULL_QUESTION``; lm-eval's
    ``acc_mutual_info``). Normalising by length instead favours the longest set (a comma
    after a letter is nearly certain): the base model then answered "A,B,C,D" to every
    item. ``raw_output`` holds every set's score (JSON)."""
    if scoring == "cloze":
        return _cloze(engine, items, max_tokens, stop, prompt_format)
    prompts = [format_prompt(mcq_prompt(it), prompt_format, engine.kind) for it in items]
    lead = answer_lead(engine, prompt_format)
    out = []
    if scoring == "loglikelihood":
        sets = [answer_sets(it) for it in items]
        kinds = sorted({tuple(x) for x in sets})
        nulls = {k: ScoringRequest(format_prompt(
            NULL_SINGLE if len(k) == 4 else NULL_QUESTION, prompt_format, engine.kind),
            _continuations(k, lead)) for k in kinds}
        got = engine.loglikelihood([ScoringRequest(p, _continuations(x, lead))
                                    for p, x in zip(prompts, sets, strict=True)]
                                   + [nulls[k] for k in kinds])
        results, base = got[: len(items)], dict(zip(kinds, got[len(items):], strict=True))
        for it, x, r in zip(items, sets, results, strict=True):
            b = base[tuple(x)]
            if not (r.ok and b.ok):
                out.append({"raw_output": None, "predicted": "", "parse_status": "error",
                            "correct": False, "partial_credit": 0.0,
                            "error": r.error or b.error})
                continue
            norm = [lp - q for (lp, _n), (q, _m) in zip(json.loads(r.text), json.loads(b.text),
                                                        strict=True)]
            best = x[int(np.argmax(norm))].replace(",", "")
            correct, partial = score(best, it["answer"])
            out.append({"raw_output": json.dumps(dict(zip(x, (round(v, 4) for v in norm),
                                                          strict=True))),
                        "predicted": best, "parse_status": "scored", "correct": correct,
                        "partial_credit": partial, "error": None})
        return out
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, stop=stop)
    results = engine.generate([GenerationRequest(
        p, params, choices=_continuations(answer_sets(it), lead) if constrain else None)
        for p, it in zip(prompts, items, strict=True)])
    for it, r in zip(items, results, strict=True):
        pred, status = extract_answer(r.text, it["options"]) if r.ok else ("", "error")
        correct, partial = score(pred, it["answer"]) if pred else (False, 0.0)
        out.append({"raw_output": r.text, "predicted": pred, "parse_status": status,
                    "correct": correct, "partial_credit": partial, "error": r.error})
    return out


CLOZE_NULL = "Answer:"
_QUOTED = re.compile(r'"[^"]*"')


def cloze_null(question: str) -> str:
    """The prompt an option's likelihood is compared against in cloze scoring: the
    question's frame with what it asks about (its quoted term, definition or step) removed,
    so the domain and the wording it shares with the real prompt cancel; a question with
    nothing quoted falls back to a bare "Answer:" (lm-eval's unconditional prompt). A bare
    prompt alone misleads once a student is trained: the frame ("In Xenobiology, …") lifts
    every option, most of all those the student has *not* learned (little likelihood
    without it), so an untaught option outscores the taught key whatever was asked."""
    masked = _QUOTED.sub('"…"', question)
    return f"Question: {masked}\nAnswer:" if masked != question else CLOZE_NULL


def _cloze(engine, items: list[dict], max_tokens: int, stop: list[str],
           prompt_format: str) -> list[dict]:
    """Single-choice items scored as cloze (lm-eval's formulation for small models): the
    question alone, no options listed, and each option's *text* scored as the answer — its
    log-likelihood after the question minus that after the question's frame with what it
    asks about removed (``cloze_null``; mutual information, so a short or common option is
    not preferred for itself). What it
    measures is whether the model prefers the right definition (or term) given the question,
    without asking it to map options to letters, which a sub-billion base model cannot do.
    Other items (several correct options) are scored over their letter sets."""
    single = [i for i, it in enumerate(items) if single_choice(it)]
    rest = [i for i, it in enumerate(items) if not single_choice(it)]
    out: list[dict | None] = [None] * len(items)
    if rest:
        for i, r in zip(rest, answer_items(engine, [items[i] for i in rest], max_tokens, stop,
                                           "loglikelihood", prompt_format), strict=True):
            out[i] = r
    if single:
        lead = answer_lead(engine, prompt_format)
        conts = [_continuations([o.strip() for o in items[i]["options"]], lead) for i in single]
        prompts = [format_prompt(f"Question: {items[i]['question']}\nAnswer:", prompt_format,
                                 engine.kind) for i in single]
        nulls = [format_prompt(cloze_null(items[i]["question"]), prompt_format, engine.kind)
                 for i in single]
        got = engine.loglikelihood([ScoringRequest(p, c) for p, c in zip(prompts, conts,
                                                                        strict=True)]
                                   + [ScoringRequest(q, c) for q, c in zip(nulls, conts,
                                                                           strict=True)])
        n = len(single)
        for k, i in enumerate(single):
            r, b = got[k], got[n + k]
            if not (r.ok and b.ok):
                out[i] = {"raw_output": None, "predicted": "", "parse_status": "error",
                          "correct": False, "partial_credit": 0.0, "error": r.error or b.error}
                continue
            norm = [lp - q for (lp, _n), (q, _m) in zip(json.loads(r.text), json.loads(b.text),
                                                        strict=True)]
            best = LETTERS[int(np.argmax(norm))]
            correct, partial = score(best, items[i]["answer"])
            out[i] = {"raw_output": json.dumps(dict(zip(LETTERS, (round(v, 4) for v in norm),
                                                        strict=False))),
                      "predicted": best, "parse_status": "scored", "correct": correct,
                      "partial_credit": partial, "error": None}
    return out  # type: ignore[return-value]


def open_engine(ws: Workspace, engine_json: dict):
    """A cached engine for ``engine_json``, remote model directories downloaded first."""
    from pydantic import TypeAdapter

    from proda_ray.engines.base import EngineConfig
    from proda_ray.workspace.storage import localize

    ec = TypeAdapter(EngineConfig).validate_python(engine_json)
    for field in ("model_path", "adapter_path"):  # object-store models: once per node
        value = getattr(ec, field, None)
        if value and "://" in value:
            ec = ec.model_copy(update={field: localize(value)})
    return CachedEngine(build_engine(ec), ResponseCache(ws))


def engine_for(ec, model: str | None, prompt_format: str = "engine"):
    """The engine config that runs ``model`` (None: the engine's own, e.g. a served one);
    a transformers engine gets the chat wrapping ``prompt_format`` asks for."""
    wrap = {"plain_chat": "plain", "raw": False}.get(prompt_format)
    if ec is None:
        if model is None:
            raise ValueError("model=engine needs an engine config")
        ec = TransformersEngineConfig(model_path=model)
    if ec.kind == "transformers" and wrap is not None:
        ec = ec.model_copy(update={"chat_template": wrap})
    if model is None:
        return ec
    field = {"transformers": "model_path", "vllm": "model", "local": "model_path"}.get(ec.kind)
    if field is None:
        raise ValueError(f"engine kind {ec.kind!r} serves its own model: set model=engine")
    return ec.model_copy(update={field: model})


class _EvalUnit:
    """An actor holding one engine (the model loaded once) that answers units of items."""

    def __init__(self, ws: Workspace, scratch: str, cfg_json: dict, engine_json: dict,
                 model: str):
        self.ws, self.scratch = ws, scratch
        self.cfg = EvalConfig.model_validate(cfg_json)
        self.model = model
        self.engine = open_engine(ws, engine_json)

    def __call__(self, batch: dict) -> dict:
        from proda_ray.engines import Usage

        key = str(batch["key"][0])
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
        c.update({f"usage:{k}": v for k, v in self.engine.usage.model_dump().items()})
        self.ws.write_parquet(posixpath.join(self.scratch, "answers", f"{key}.parquet"),
                              pa.Table.from_pylist(rows, schema=PREDICTIONS))
        self.ws.write_json(posixpath.join(self.scratch, "units", f"{key}.done.json"), dict(c))
        return {"key": np.array([key])}


def _dir_signature(path: str) -> str:
    """Names, sizes and mtimes of a model directory's files (cheap; changes with the model)."""
    import pyarrow.fs as pafs

    from proda_ray.workspace.storage import open_filesystem

    fs, root = open_filesystem(path)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    sig = sorted((posixpath.relpath(i.path, root), i.size, str(i.mtime)) for i in infos
                 if i.type == pafs.FileType.File)
    return content_hash(path, repr(sig))
