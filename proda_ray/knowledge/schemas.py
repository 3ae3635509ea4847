"""JSON schemas of the three extraction calls, bounded so constrained decoding stays fast.

Bounds (string lengths, array sizes) keep llama.cpp grammars small and stop a base model from
rambling; ``source_quote`` can be an ``enum`` of the chunk's own sentences (verbatim quotes by
construction), and a statement's ``step`` is bounded by the chain's length.
"""

from __future__ import annotations

CONCEPT_TYPES = ["process", "entity", "property", "quantity", "law", "principle", "method",
                 "structure", "event", "condition", "concept"]


def alphabetical(schema):
    """The schema with every ``properties`` mapping in alphabetical key order.

    Grammar-constrained engines generate properties in schema order. For extraction we keep
    the order measured best with the 270M model (alphabetical: the steps are chosen before
    the free-text fields); on the bundled sample it gave 12 chains and 30 statements where
    the examples' order gave 7 and 18."""
    if isinstance(schema, list):
        return [alphabetical(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: alphabetical(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = dict(sorted(out["properties"].items()))
    return out


def _alphabetical(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return alphabetical(fn(*args, **kwargs))
    return wrapper


def _s(max_len: int, min_len: int = 1) -> dict:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


@_alphabetical
def chains_schema(max_chains: int, min_steps: int, max_steps: int,
                  step_choices: list[str] | None = None, name_choices: list[str] | None = None
                  ) -> dict:
    """``step_choices``: extractive mode. The model picks the first and the last step among
    the chunk's sentences; the chain is the run of sentences between them (text order)."""
    props: dict = {
        "process_name": {"type": "string", "enum": name_choices} if name_choices
        else _s(100, 3),
        "narrative_summary": _s(300),
        "preconditions": {"type": "array", "maxItems": 3, "items": _s(150)},
        "negative_constraints": {"type": "array", "maxItems": 3, "items": _s(150)},
    }
    if step_choices:
        props["first_step"] = {"type": "string", "enum": step_choices}
        props["last_step"] = {"type": "string", "enum": step_choices}
    else:
        props["steps"] = {"type": "array", "minItems": min_steps, "maxItems": max_steps,
                          "items": _s(200, 3)}
    chain = {"type": "object", "properties": props, "required": list(props),
             "additionalProperties": False}
    return {"type": "object", "properties": {"chains": {
        "type": "array", "minItems": 1, "maxItems": max_chains, "items": chain}},
        "required": ["chains"], "additionalProperties": False}


@_alphabetical
def statements_schema(n_steps: int, quotes: list[str] | None,
                      subjects: list[str] | None = None, objects: list[str] | None = None
                      ) -> dict:
    """``subjects``/``objects``: extractive mode, phrases taken from the linked steps."""
    quote = {"type": "string", "enum": quotes} if quotes else _s(400, 8)
    item = {
        "type": "object",
        "properties": {
            "step": {"type": "integer", "minimum": 0, "maximum": max(0, n_steps - 2)},
            "subject": {"type": "string", "enum": subjects} if subjects else _s(80),
            "predicate": _s(60),
            "object": {"type": "string", "enum": objects} if objects else _s(80),
            "source_quote": quote,
        },
        "required": ["step", "subject", "predicate", "object", "source_quote"],
        "additionalProperties": False,
    }
    return {"type": "object", "properties": {"statements": {
        "type": "array", "minItems": 1, "maxItems": max(1, n_steps - 1), "items": item}},
        "required": ["statements"], "additionalProperties": False}


@_alphabetical
def concepts_schema(n_statements: int, max_concepts: int, terms: list[str] | None = None
                    ) -> dict:
    """``terms``: extractive mode, a concept is one of the statements' subjects/objects."""
    item = {
        "type": "object",
        "properties": {
            "term": {"type": "string", "enum": terms} if terms else _s(60, 2),
            "type": {"type": "string", "enum": CONCEPT_TYPES},
            "definition": _s(250, 8),
            "statements": {"type": "array", "minItems": 1, "maxItems": n_statements,
                           "items": {"type": "integer", "minimum": 0,
                                     "maximum": n_statements - 1}},
        },
        "required": ["term", "type", "definition", "statements"],
        "additionalProperties": False,
    }
    return {"type": "object", "properties": {"concepts": {
        "type": "array", "minItems": 1, "maxItems": max_concepts, "items": item}},
        "required": ["concepts"], "additionalProperties": False}


def choice_schema(key: str, choices: list[str]) -> dict:
    """One choice among ``choices`` (a constrained list a small model can pick from)."""
    return {"type": "object", "properties": {key: {"type": "string", "enum": choices}},
            "required": [key], "additionalProperties": False}
