"""LLM-written items and the engine answerability check (both through the engine layer)."""

from __future__ import annotations

from importlib import resources

from proda_ray.engines import Engine, GenerationRequest, SamplingParams, generate_json
from proda_ray.tester.items import LETTERS

ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "question_type": {"type": "string",
                          "enum": ["process", "causal", "critical", "application"]},
        "question": {"type": "string", "minLength": 80, "maxLength": 900},
        "options": {"type": "object", "properties": {
            k: {"type": "string", "minLength": 2, "maxLength": 220} for k in LETTERS},
            "required": list(LETTERS), "additionalProperties": False},
        "answer": {"type": "array", "items": {"type": "string", "enum": list(LETTERS)},
                   "minItems": 1, "maxItems": 4, "uniqueItems": True},
        "explanation": {"type": "string", "minLength": 20, "maxLength": 1200},
        "distractor_types": {"type": "array", "maxItems": 4, "items": {
            "type": "string", "enum": ["reversed_causality", "missing_precondition",
                                       "wrong_order", "overgeneralization",
                                       "misattributed_mechanism", "partial_truth",
                                       "context_confusion", "subtle_logical_error"]}},
    },
    "required": ["question_type", "question", "options", "answer", "explanation",
                 "distractor_types"],
    "additionalProperties": False,
}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "array", "items": {"type": "string",
                                                           "enum": list(LETTERS)},
                              "minItems": 1, "maxItems": 4, "uniqueItems": True}},
    "required": ["answer"], "additionalProperties": False,
}


def prompt(name: str) -> str:
    return resources.files("proda_ray.tester").joinpath("prompts", f"{name}.txt").read_text()


def _steps(chain: dict) -> str:
    return "\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(chain["steps"]))


def llm_items(chains: list[dict], engine: Engine, n: int, temperature: float,
              max_tokens: int, retries: int, seed: int) -> list[tuple[dict, dict | None, str]]:
    """(chain, item or None, error) for ``n`` calls per chain (seeds differ per call)."""
    reqs, owners = [], []
    for c in chains:
        text = (prompt("bench_item").replace("{process_name}", c["process_name"] or "")
                .replace("{domain}", c.get("domain_context") or "")
                .replace("{steps}", _steps(c)))
        for k in range(n):
            reqs.append(GenerationRequest(text, SamplingParams(
                max_tokens=max_tokens, temperature=temperature, seed=seed * 1000 + k * 17),
                ITEM_SCHEMA))
            owners.append(c)
    out = []
    for c, r in zip(owners, generate_json(engine, reqs, retries), strict=True):
        if r.value is None:
            out.append((c, None, r.error or "empty_output: no item"))
            continue
        v = r.value
        out.append((c, {"question": v["question"].strip(),
                        "options": [v["options"][k].strip() for k in LETTERS],
                        "answer": "".join(sorted(set(v["answer"]))),
                        "explanation": v["explanation"].strip(),
                        "question_type": v["question_type"],
                        "distractor_types": sorted(set(v["distractor_types"]))}, ""))
    return out


def engine_answers(pairs: list[tuple[dict, dict]], engine: Engine, retries: int
                   ) -> list[str | None]:
    """The engine's answer (sorted letters) to each item given its chain alone."""
    reqs = []
    for chain, item in pairs:
        text = (prompt("bench_answer").replace("{process_name}", chain["process_name"] or "")
                .replace("{steps}", _steps(chain)).replace("{question}", item["question"]))
        for k, o in zip(LETTERS, item["options"], strict=True):
            text = text.replace("{" + k + "}", o)
        reqs.append(GenerationRequest(text, SamplingParams(max_tokens=40, temperature=0.0),
                                      ANSWER_SCHEMA))
    return ["".join(sorted(set(r.value["answer"]))) if r.value else None
            for r in generate_json(engine, reqs, retries)]
