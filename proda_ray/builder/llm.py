"""LLM-written SFT samples, one fact per call, through the engine layer.

The engine sees one L2 statement (as a sentence) and the definitions of its L1 concepts —
nothing from chains or the benchmark. Output is schema-constrained; a sample must then
mention its fact's subject or object (content words) or it is rejected as ungrounded.
The stage groups jobs into seeded windows of statements drawn across chains (never a chain's
statements in order, which could be recombined into the chain itself).
"""

from __future__ import annotations

import re
from importlib import resources

from proda_ray.builder.templates import LETTERS, claim
from proda_ray.engines import Engine, GenerationRequest, SamplingParams, generate_json
from proda_ray.ids import make_id

_WORD = re.compile(r"[a-z]{4,}")


def sample_schema(task: str) -> dict:
    n = 4 if task in ("single_choice", "multi_choice") else 0
    answer = ({"type": "string", "pattern": "^[A-D]$"} if task == "single_choice" else
              {"type": "string", "pattern": "^[A-D](,[A-D]){0,3}$"} if task == "multi_choice"
              else {"type": "string", "enum": ["True", "False"]} if task == "true_false"
              else {"type": "string", "minLength": 2, "maxLength": 300})
    return {"type": "object", "properties": {
        "question": {"type": "string", "minLength": 10, "maxLength": 400},
        "options": {"type": "array", "minItems": n, "maxItems": n, "uniqueItems": True,
                    "items": {"type": "string", "minLength": 3, "maxLength": 120}},
        "answer": answer,
        "explanation": {"type": "string", "minLength": 10, "maxLength": 500}},
        "required": ["question", "options", "answer", "explanation"],
        "additionalProperties": False}


def _examples() -> list[set[str]]:
    qs = re.findall(r'"question": "([^"]+)"', prompt_text())
    return [set(_WORD.findall(q.lower())) for q in qs]


def _copied(question: str) -> bool:
    """True when the question is mostly one of the few-shot examples' questions."""
    words = set(_WORD.findall(question.lower()))
    return any(ex and len(words & ex) / len(ex) >= 0.6 for ex in _examples())


def prompt_text() -> str:
    return resources.files("proda_ray.builder").joinpath("prompts", "sft_sample.txt"
                                                         ).read_text()


def llm_rejections(failed: list[tuple[dict, str]]) -> list:
    """``llm_samples``' failures as rejections (reason, detail, the fact, the task)."""
    from proda_ray.workspace.rejections import Rejection

    out = []
    for job, err in failed:
        reason, _, detail = err.partition(": ")
        out.append(Rejection(None, "llm", reason, detail=detail,
                             id=job["statement"]["statement_id"], preview=job["task"]))
    return out


def llm_samples(jobs: list[dict], concepts: dict[str, dict], engine: Engine,
                temperature: float, max_tokens: int, retries: int, seed: int
                ) -> tuple[list[dict], list[tuple[dict, str]]]:
    """jobs: {"statement": row, "task": type}. Returns (samples, [(job, error)])."""
    base = prompt_text()
    reqs = []
    for k, job in enumerate(jobs):
        s = job["statement"]
        defs = [concepts[c] for c in s.get("concept_ids") or [] if c in concepts]
        listing = "\n".join(f"- {c['term']}: {(c.get('definition') or '').strip()}"
                            for c in defs) or "- (none)"
        text = (base.replace("{domain}", s.get("domain") or "Science")
                .replace("{fact}", claim(s)).replace("{definitions}", listing)
                .replace("{task}", job["task"]))
        reqs.append(GenerationRequest(text, SamplingParams(
            max_tokens=max_tokens, temperature=temperature, seed=seed * 7919 + k),
            sample_schema(job["task"])))
    samples, failed = [], []
    for job, r in zip(jobs, generate_json(engine, reqs, retries), strict=True):
        if r.value is None:
            failed.append((job, r.error or "empty_output: no sample"))
            continue
        s, v, task = job["statement"], r.value, job["task"]
        fact_words = set(_WORD.findall(f"{s['subject']} {s['object']}".lower()))
        asked = set(_WORD.findall(f"{v['question']} {v['answer']} {' '.join(v['options'])}"
                                  .lower()))
        if _copied(v["question"]):
            failed.append((job, "copied_example: the question repeats the prompt's example"))
            continue
        if fact_words and not fact_words & asked:
            failed.append((job, "ungrounded_sample: the question and answer name neither "
                                "the fact's subject nor its object"))
            continue
        if v["options"]:
            prompt = v["question"].strip() + "\n" + "\n".join(
                f"{L}. {o.strip()}" for L, o in zip(LETTERS, v["options"], strict=True))
        elif task == "true_false":
            prompt = f"Is the following statement true or false?\n{v['question'].strip()}" \
                     "\nA. True\nB. False"
        else:
            prompt = v["question"].strip()
        answer = ({"True": "A", "False": "B"}[v["answer"]] if task == "true_false"
                  else v["answer"].strip())
        response = f"{answer}\n\n{v['explanation'].strip()}"
        samples.append({"sample_id": make_id("sft", "llm", task, prompt, response),
                        "task_type": task, "generator": "llm", "prompt": prompt,
                        "response": response, "statement_ids": [s["statement_id"]],
                        "concept_ids": sorted(s.get("concept_ids") or []),
                        "discipline_code": s.get("discipline_code")})
    return samples, failed
