"""Template item generators: reasoning-structure templates filled with a chain's content.

Deterministic for a seed, valid from any chain with enough steps, and correct by
construction: the key is derived from the chain's own order and links, and each item keeps
the ``facts`` it was built from, so the rule-based answerability check can re-derive the key
from the chain alone. Options within an item share one form (same template, similar length)
so the key cannot be read off their shape.

Kinds (the method's priorities: process reasoning, causal analysis, application; no recall):

* ``process_order``: 3-4 events of a process quoted in shuffled order; claims about which
  happens before which. Distractors: ``wrong_order`` (reversed pairs).
* ``causal_chain``: the steps quoted; which conclusions follow when two or more adjacent
  links are composed (an inference no single L2 statement states, so recalling one training
  fact does not answer it). Distractors: ``reversed_causality`` (effect and cause swapped),
  ``misattributed_mechanism`` (an effect from another process).
* ``next_step``: the first steps quoted; what follows next. Distractors: ``wrong_order``
  (an earlier step), ``context_confusion`` (a step of another process).
"""

from __future__ import annotations

import random

from proda_ray.tester.items import LETTERS, answer_letters, seeded_rng, trim_words

KINDS = ("process_order", "causal_chain", "next_step")
ROMAN = ("I", "II", "III", "IV")


def _frame(chain: dict) -> str:
    domain = chain.get("domain_context") or "this field"
    name = (chain.get("process_name") or "the process").strip().rstrip(".")
    return f"In {domain}, consider the process \"{name}\"."


def _fit_steps(steps: list[str], budget_words: int, floor: int = 6) -> list[str] | None:
    """Trim steps evenly so that together they fit ``budget_words``; None if impossible."""
    per = max(floor, budget_words // max(1, len(steps)) - 1)  # -1: room for the ellipsis
    out = [trim_words(s, per) for s in steps]
    return out if sum(len(s.split()) for s in out) <= budget_words else None


def _fit_question(build, budgets=(64, 52, 42, 34, 26), max_words: int = 100):
    """Call ``build(budget)`` with shrinking step budgets until the question fits."""
    for b in budgets:
        got = build(b)
        if got is not None and len(got[0].split()) <= max_words:
            return got
    return None


def _pack(question: str, options: list[str], correct: list[int], explanation: str,
          kind: str, distractors: list[str], facts: dict, rng: random.Random) -> dict:
    order = list(range(4))
    rng.shuffle(order)  # option positions are shuffled, the key follows them
    opts = [options[i] for i in order]
    key = answer_letters(order.index(i) for i in correct)
    return {"question": question, "options": opts, "answer": key,
            "explanation": explanation, "question_type": kind,
            "distractor_types": sorted(set(distractors)), "facts": facts}


def process_order(chain: dict, seed: int, **_) -> dict | None:
    steps = chain["steps"]
    if len(steps) < 3:
        return None
    rng = seeded_rng(seed, chain["chain_id"], "process_order")
    n = 4 if len(steps) >= 4 and rng.random() < 0.5 else 3
    start = rng.randrange(0, len(steps) - n + 1)
    window = list(range(start, start + n))
    shown = window[:]
    rng.shuffle(shown)  # events are listed out of order: the order is what is asked
    label = {pos: ROMAN[k] for k, pos in enumerate(shown)}

    def build(budget):
        events = _fit_steps([steps[i] for i in window], budget)
        if events is None:
            return None
        text = {pos: events[window.index(pos)] for pos in window}
        listing = " ".join(f"({label[p]}) {text[p]}" for p in shown)
        return (f"{_frame(chain)} Its events are listed here in random order: {listing} "
                "Which of the following statements about the order in which these events "
                "occur are correct? More than one option may be correct.", text)

    got = _fit_question(build)
    if got is None:
        return None
    question, text = got
    pairs = [(a, b) for i, a in enumerate(window) for b in window[i + 1:]]  # a before b
    true_claims, false_claims = pairs[:], [(b, a) for a, b in pairs]  # reversed: wrong order
    rng.shuffle(true_claims)
    rng.shuffle(false_claims)
    k = rng.randint(max(1, 4 - len(false_claims)), min(4, len(true_claims)))
    chosen = true_claims[:k] + false_claims[: 4 - k]
    options = [f"Event {label[a]} occurs before event {label[b]}." for a, b in chosen]
    correct = list(range(k))
    kinds = ["wrong_order"] * (4 - k)
    truth = " → ".join(label[p] for p in window)
    explanation = (f"In the process the events occur in the order {truth}: "
                   + " Then ".join(text[p] for p in window))
    facts = {"kind": "order", "positions": {label[p]: p for p in window}}
    return _pack(question, options, correct, explanation, "process_order", kinds, facts, rng)


def _triple(s: dict) -> str:
    return f"{s['subject'].strip()} {s['predicate'].strip()} {s['object'].strip()}"


def _composed(a: str, c: str) -> str:
    return f"Through the intermediate steps, {a} ultimately leads to {c}."


def causal_chain(chain: dict, seed: int, statements: list[dict], others: list[dict],
                 **_) -> dict | None:
    """Claims that compose two or more adjacent links of the chain (subject of link i ->
    object of link j > i): an L3 inference that no single L2 statement states, so the item
    cannot be answered by recalling one training fact. ``others``: statements of other
    chains, for misattributed effects."""
    links = {}
    for s in sorted(statements, key=lambda s: (s["step_index"], s["statement_id"])):
        links.setdefault(s["step_index"], s)  # one link per step pair
    idx = sorted(links)
    spans = [(i, j) for i in idx for j in idx if j >= i + 1
             and all(k in links for k in range(i, j + 1))]  # consecutive links i..j
    spans = [(i, j) for i, j in spans
             if links[i]["subject"].strip().lower() != links[j]["object"].strip().lower()]
    if not spans:
        return None
    rng = seeded_rng(seed, chain["chain_id"], "causal_chain")
    rng.shuffle(spans)
    k = rng.randint(1, min(3, len(spans)))
    true = spans[:k]
    claims = {(links[i]["subject"].strip(), links[j]["object"].strip()) for i, j in true}
    lo = min(i for i, _ in true)
    hi = max(j for _, j in true) + 1

    def build(budget):
        steps = _fit_steps(chain["steps"][lo : hi + 1], budget)
        if steps is None:
            return None
        listing = " ".join(f"Step {i + 1}: {s}" for i, s in enumerate(steps))
        return (f"{_frame(chain)} It runs as follows. {listing} Following the process from "
                "step to step, which of the following conclusions are correct? More than one "
                "option may be correct.", None)

    got = _fit_question(build)
    if got is None:
        return None
    question = got[0]
    options = [_composed(a, c) for a, c in claims]
    correct = list(range(len(options)))
    kinds: list[str] = []
    names = {x.lower() for pair in claims for x in pair}
    for a, c in sorted(claims):  # reversed causality: the effect drives the cause
        if len(options) == 4:
            break
        if (c, a) not in claims:
            options.append(_composed(c, a))
            kinds.append("reversed_causality")
    pool = sorted({o["object"].strip() for o in others
                   if o["object"].strip().lower() not in names})
    rng.shuffle(pool)
    for a, c in sorted(claims) * 3:  # misattributed mechanism: another process's effect
        if len(options) == 4 or not pool:
            break
        pool.sort(key=lambda o: (abs(len(o) - len(c)), o))
        options.append(_composed(a, pool.pop(0)))
        kinds.append("misattributed_mechanism")
    if len(options) < 4 or len({o.lower() for o in options}) < 4:
        return None
    explanation = ("Following the links of the process: " + "; ".join(
        " → ".join([links[i]["subject"].strip()] + [links[k]["object"].strip()
                                                     for k in range(i, j + 1)])
        for i, j in true) + ". The other options reverse the direction of the process or "
        "attribute an effect that belongs to a different process.")
    facts = {"kind": "links", "true": [_composed(a, c) for a, c in claims]}
    item = _pack(question, options, correct, explanation, "causal_chain", kinds, facts, rng)
    item["statement_ids"] = sorted({links[k]["statement_id"] for i, j in true
                                    for k in range(i, j + 1)})
    return item


def next_step(chain: dict, seed: int, other_steps: list[str], **_) -> dict | None:
    steps = chain["steps"]
    if len(steps) < 3 or len(other_steps) < 2:
        return None
    rng = seeded_rng(seed, chain["chain_id"], "next_step")
    cut = rng.randint(2, len(steps) - 1)  # steps[:cut] shown, steps[cut] is next
    n_words = 14
    right = trim_words(steps[cut], n_words)
    earlier = trim_words(steps[rng.randrange(0, max(1, cut - 1))], n_words)
    pool = [trim_words(s, n_words) for s in other_steps]
    pool = [p for p in dict.fromkeys(pool) if p.lower() not in {right.lower(), earlier.lower()}]
    if len(pool) < 2:
        return None
    pool.sort(key=lambda p: (abs(len(p) - len(right)), p))
    foreign = pool[:2]

    def build(budget):
        shown = _fit_steps(steps[max(0, cut - 3) : cut], budget)
        if shown is None:
            return None
        listing = " ".join(f"Step {i + 1}: {s}" for i, s in enumerate(shown))
        return (f"{_frame(chain)} It begins as follows. {listing} Which of the following "
                "describes what happens next in this process? More than one option may be "
                "correct.", None)

    got = _fit_question(build)
    if got is None:
        return None
    question = got[0]
    options = [right, earlier, *foreign]
    explanation = (f"The next step of the process is: {steps[cut]} The other options are an "
                   "earlier step of the same process or steps of a different process.")
    facts = {"kind": "next", "next": right}
    return _pack(question, options, [0], explanation, "next_step",
                 ["wrong_order", "context_confusion", "context_confusion"], facts, rng)


GENERATORS = {"process_order": process_order, "causal_chain": causal_chain,
              "next_step": next_step}


def solve_from_chain(item: dict) -> str | None:
    """Answer a template item from its recorded chain facts alone (the rule-based
    answerability check). None when the item carries no facts this solver understands."""
    facts = item.get("facts") or {}
    opts = item["options"]
    if facts.get("kind") == "order":
        pos = facts["positions"]
        correct = []
        for i, o in enumerate(opts):
            parts = o.removeprefix("Event ").split(" occurs before event ")
            if len(parts) != 2:
                return None
            a, b = parts[0], parts[1].rstrip(".")
            if a not in pos or b not in pos:
                return None
            if pos[a] < pos[b]:
                correct.append(i)
        return answer_letters(correct) if correct else ""
    if facts.get("kind") == "links":
        true = {t.lower() for t in facts["true"]}
        return answer_letters(i for i, o in enumerate(opts) if o.lower() in true)
    if facts.get("kind") == "next":
        return answer_letters(i for i, o in enumerate(opts) if o == facts["next"])
    return None


__all__ = ["GENERATORS", "KINDS", "LETTERS", "solve_from_chain"]
