"""Asking a model benchmark-style items: prompts, scoring modes, engines for a model.

Shared by evaluation (every item) and the debugger's probes (node-level questions): both
ask the same way, so a probe's answer and an item's are comparable.
"""

from __future__ import annotations

import json
import re

import numpy as np

from proda_ray.answering.parse import extract_answer, score
from proda_ray.answering.prompts import (
    LETTERS,
    MCQ_INSTRUCTION,
    SINGLE_INSTRUCTION,
    answer_sets,
    mcq_prompt,
    single_choice,
)
from proda_ray.engines import (
    CachedEngine,
    GenerationRequest,
    ResponseCache,
    SamplingParams,
    ScoringRequest,
)
from proda_ray.engines.base import TransformersEngineConfig, build_engine
from proda_ray.workspace.storage import Workspace

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
