"""The transformers engine: batched generate on HF checkpoints (tiny random-init + real)."""

from __future__ import annotations

import json

import pytest

from proda_ray.engines import CachedEngine, ResponseCache
from proda_ray.engines.base import (
    GenerationRequest,
    SamplingParams,
    TransformersEngineConfig,
    build_engine,
)
from proda_ray.engines.models import tiny_causal_lm
from proda_ray.workspace import Workspace
from tests.conftest import openstax_texts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = openstax_texts(30) or ["The water cycle moves water between sea, air and land."]
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "m", texts)


PROMPTS = ["Light travels", "A force acting on a body of mass m produces", "Heat", "In 1905 the "
           "photoelectric effect was explained by the quantum hypothesis of light, which"]


def test_batched_greedy_equals_one_at_a_time(tiny):
    """Left padding and attention masks are right: batching does not change greedy output."""
    params = SamplingParams(max_tokens=16)
    batched = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=4,
                                                    chat_template=False))
    single = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=1,
                                                   chat_template=False))
    reqs = [GenerationRequest(p, params) for p in PROMPTS]
    a, b = batched.generate(reqs), single.generate(reqs)
    assert [r.text for r in a] == [r.text for r in b]
    for r in a:
        assert r.ok and r.prompt_tokens > 0 and 0 < r.completion_tokens <= 16
        assert r.latency_s > 0


def test_order_settings_groups_stop_strings_and_sampling(tiny):
    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=3))
    greedy = SamplingParams(max_tokens=12)
    hot = SamplingParams(max_tokens=12, temperature=1.0, seed=5)
    reqs = [GenerationRequest(PROMPTS[0], greedy), GenerationRequest(PROMPTS[1], hot),
            GenerationRequest(PROMPTS[2], greedy), GenerationRequest(PROMPTS[1], hot)]
    out = eng.generate(reqs)
    assert len(out) == 4 and all(r.ok for r in out)
    assert out[1].text == out[3].text  # same seed, same batch settings: reproducible
    again = eng.generate([reqs[1]])
    assert again[0].text == out[1].text  # seeded sampling does not depend on batch mates
    text = out[0].text
    if len(text) > 3:  # a stop string cuts the text where it first occurs
        stop = text[2:4]
        cut = eng.generate([GenerationRequest(PROMPTS[0], SamplingParams(max_tokens=12,
                                                                        stop=[stop]))])[0]
        assert cut.text == text[: text.index(stop)]


def test_chat_template_and_cache(tiny, tmp_path):
    eng = build_engine(TransformersEngineConfig(model_path=str(tiny)))
    assert eng.chat  # the tokenizer has a chat template: prompts are wrapped in it
    assert "<|assistant|>" in eng._text("hi")
    cached = CachedEngine(eng, ResponseCache(Workspace(tmp_path)))
    req = [GenerationRequest("Energy is", SamplingParams(max_tokens=8))]
    first, second = cached.generate(req), cached.generate(req)
    assert not first[0].cached and second[0].cached and first[0].text == second[0].text
    assert cached.usage.calls == 1 and cached.usage.cached_calls == 1


def test_a_failing_request_costs_only_itself(tiny):
    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=4,
                                                chat_template=False))
    too_long = "word " * 5000  # beyond the tiny model's 1024 positions
    out = eng.generate([GenerationRequest(PROMPTS[0], SamplingParams(max_tokens=4)),
                        GenerationRequest(too_long, SamplingParams(max_tokens=4))])
    assert out[0].ok
    assert not out[1].ok and out[1].error.startswith("context_overflow:")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        build_engine(TransformersEngineConfig(model_path=str(tmp_path / "nope")))


@pytest.mark.slow
def test_the_real_gemma_checkpoint_generates():
    """The bundled Gemma 3 270M, converted once from the GGUF to a HF checkpoint."""
    from proda_ray.engines.models import bundled_gemma_hf

    eng = build_engine(TransformersEngineConfig(model_path=str(bundled_gemma_hf()),
                                                batch_size=2))
    assert not eng.chat  # a base model: raw completion prompts
    out = eng.generate([GenerationRequest("Water boils at a temperature of",
                                          SamplingParams(max_tokens=10)),
                        GenerationRequest("The capital of France is",
                                          SamplingParams(max_tokens=8))])
    assert "100" in out[0].text
    assert "France" in out[1].text or "Paris" in out[1].text


def test_a_batch_error_is_split_down_to_the_failing_request(tiny, monkeypatch):
    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=4,
                                                chat_template=False))
    real = eng._generate

    def flaky(texts, req):  # e.g. out-of-memory caused by one long prompt
        if any("Heat" in t for t in texts):
            raise RuntimeError("simulated OOM")
        return real(texts, req)

    monkeypatch.setattr(eng, "_generate", flaky)
    out = eng.generate([GenerationRequest(p, SamplingParams(max_tokens=4)) for p in PROMPTS])
    assert [r.ok for r in out] == [True, True, False, True]
    assert out[2].error == "engine_error: RuntimeError: simulated OOM"


def test_loglikelihood_matches_a_one_sequence_forward_and_is_cached(tiny, tmp_path):
    """Each continuation's summed log-probability equals what one unpadded forward pass of
    context + continuation gives (an independent computation, no batching or padding); the
    plain template wraps the context; a rerun is served from the cache."""
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from proda_ray.engines import ScoringRequest
    from proda_ray.engines.models import PLAIN_CHAT_TEMPLATE

    conts = (" A", " B", " A,C", " A,B,C,D")
    req = ScoringRequest("Question: which force keeps a planet in orbit?\nAnswer:", conts)
    eng = CachedEngine(build_engine(TransformersEngineConfig(model_path=str(tiny),
                                                             chat_template="plain")),
                       ResponseCache(Workspace(str(tmp_path / "ws"))))
    (res,) = eng.loglikelihood([req])
    assert res.ok, res.error
    got = json.loads(res.text)
    tok = AutoTokenizer.from_pretrained(str(tiny))
    model = AutoModelForCausalLM.from_pretrained(str(tiny)).eval()
    tok.chat_template = PLAIN_CHAT_TEMPLATE
    ctx_text = tok.apply_chat_template([{"role": "user", "content": req.context}],
                                       tokenize=False, add_generation_prompt=True)
    ctx = tok(ctx_text, add_special_tokens=False)["input_ids"]
    for (lp, n), c in zip(got, conts, strict=True):
        cont = tok(c, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ctx + cont])).logits[0].float()
        want = sum(float(torch.log_softmax(logits[len(ctx) - 1 + k], -1)[t])
                   for k, t in enumerate(cont))
        assert n == len(cont) and abs(lp - want) < 1e-3
    again = eng.loglikelihood([req])[0]
    assert again.cached and json.loads(again.text) == got
    assert eng.usage.calls == 1 and eng.usage.cached_calls == 1


def test_loglikelihood_scoring_answers_every_item_without_parsing(tiny):
    from proda_ray.answering import answer_items, scoring_mode
    from proda_ray.evaluate.config import EvalConfig
    from proda_ray.exports import ANSWER_SETS

    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), chat_template="plain"))
    items = [{"question": f"Which option names the {w} of the list?",
              "options": ["first", "second", "third", "fourth"], "answer": a}
             for w, a in (("first", "A"), ("last", "D"), ("middle two", "BC"))]
    assert scoring_mode(eng, EvalConfig()) == "loglikelihood"  # a tiny model: auto picks it
    assert scoring_mode(eng, EvalConfig(small_model_params=10)) == "generate"
    items.append({"question": "Which option is the definition of a lever?",
                  "options": ["a rigid bar on a pivot", "a wheel", "a slope", "a rope"],
                  "answer": "A", "question_type": "definition_match"})
    out = answer_items(eng, items, 8, [], "loglikelihood", "plain_chat")
    for it, o in zip(items, out, strict=True):
        assert o["parse_status"] == "scored" and o["error"] is None
        scores = json.loads(o["raw_output"])
        # a single-choice type is scored over its four letters, the others over 15 sets
        assert set(scores) == (set("ABCD") if it.get("question_type") else set(ANSWER_SETS))
        best = max(scores, key=scores.get).replace(",", "")
        assert o["predicted"] == best and o["correct"] == (best == it["answer"])


def test_cloze_scores_each_option_text_after_the_question_alone(tiny):
    from proda_ray.answering import answer_items, format_prompt
    from proda_ray.engines.base import ScoringRequest
    from proda_ray.exports import ANSWER_SETS

    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), chat_template="plain"))
    single = {"question": "In Physics, which of the following is the definition of a lever?",
              "options": ["a rigid bar on a pivot", "a wheel", "a slope", "a rope"],
              "answer": "A", "question_type": "definition_match"}
    multi = {"question": "Which options name a simple machine?",
             "options": ["lever", "pulley", "river", "cloud"], "answer": "AB",
             "question_type": "statement_truth"}
    out = answer_items(eng, [single, multi], 8, [], "cloze", "plain_chat")
    assert all(o["parse_status"] == "scored" for o in out)
    # the single-choice item: each option's own log-likelihood, question vs no question,
    # recomputed here from the engine's scoring call; the option begins the assistant turn,
    # as a trained student's responses do, so it carries no leading space
    conts = tuple(single["options"])
    q, n = eng.loglikelihood([
        ScoringRequest(format_prompt(f"Question: {single['question']}\nAnswer:",
                                     "plain_chat", eng.kind), conts),
        ScoringRequest(format_prompt("Answer:", "plain_chat", eng.kind), conts)])
    want = [a[0] - b[0] for a, b in zip(json.loads(q.text), json.loads(n.text), strict=True)]
    got = json.loads(out[0]["raw_output"])
    assert list(got) == list("ABCD")
    assert all(abs(got[k] - round(w, 4)) < 1e-3 for k, w in zip("ABCD", want, strict=True))
    assert out[0]["predicted"] == "ABCD"[want.index(max(want))]
    # several correct options: scored over the 15 letter sets as loglikelihood does
    assert set(json.loads(out[1]["raw_output"])) == set(ANSWER_SETS)
    # a question that quotes what it asks about is compared against its own frame with the
    # quote emptied, not a bare "Answer:" (the frame's lift cancels)
    quoted = {"question": 'In Physics, which term has this definition: "a rigid bar on a '
              'pivot"?', "options": ["lever", "wheel", "slope", "rope"], "answer": "A",
              "question_type": "term_match"}
    conts = tuple(quoted["options"])
    q, n = eng.loglikelihood([ScoringRequest(format_prompt(p, "plain_chat", eng.kind), conts)
                              for p in (f"Question: {quoted['question']}\nAnswer:",
                                        'Question: In Physics, which term has this '
                                        'definition: "…"?\nAnswer:')])
    want = [a[0] - b[0] for a, b in zip(json.loads(q.text), json.loads(n.text), strict=True)]
    got = json.loads(answer_items(eng, [quoted], 8, [], "cloze", "plain_chat")[0]["raw_output"])
    assert all(abs(got[k] - round(w, 4)) < 1e-3 for k, w in zip("ABCD", want, strict=True))
    # a raw prompt ends in "Answer:", and there the option follows a space
    raw = build_engine(TransformersEngineConfig(model_path=str(tiny), chat_template=False))
    conts = tuple(" " + o for o in quoted["options"])
    q, n = raw.loglikelihood([ScoringRequest(p, conts) for p in (
        f"Question: {quoted['question']}\nAnswer:",
        'Question: In Physics, which term has this definition: "…"?\nAnswer:')])
    want = [a[0] - b[0] for a, b in zip(json.loads(q.text), json.loads(n.text), strict=True)]
    got = json.loads(answer_items(raw, [quoted], 8, [], "cloze", "raw")[0]["raw_output"])
    assert all(abs(got[k] - round(w, 4)) < 1e-3 for k, w in zip("ABCD", want, strict=True))


CHOICES = (" A", " B", " C", " D", " A,C", " B,D", " A,B,C,D")


def test_guided_choice_walks_the_choices_as_an_independent_greedy_search(tiny):
    """Constrained generation returns one of the choices, the one an independent greedy walk
    (one unpadded forward per step, argmax over the tokens that continue a choice) reaches;
    batching does not change it; unconstrained requests in the same call are untouched."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    model = AutoModelForCausalLM.from_pretrained(str(tiny)).eval()
    seqs = [tok(c, add_special_tokens=False)["input_ids"] for c in CHOICES]

    def walk(prompt: str) -> str:
        ids, done = tok(prompt)["input_ids"], []
        while True:
            nxt = {s[len(done)] for s in seqs if len(s) > len(done) and s[:len(done)] == done}
            if done in seqs:
                nxt.add(tok.eos_token_id)
            with torch.no_grad():
                logits = model(torch.tensor([ids + done])).logits[0, -1]
            t = max(nxt, key=lambda k: float(logits[k]))
            if t == tok.eos_token_id:
                return tok.decode(done)
            done.append(t)

    params = SamplingParams(max_tokens=4)
    reqs = [GenerationRequest(p, params, choices=CHOICES) for p in PROMPTS]
    free = GenerationRequest(PROMPTS[0], SamplingParams(max_tokens=8))
    for bs in (1, 4):
        eng = build_engine(TransformersEngineConfig(model_path=str(tiny), batch_size=bs,
                                                    chat_template=False))
        got = eng.generate([*reqs, free])
        assert all(r.ok for r in got)
        assert [r.text for r in got[:-1]] == [walk(p) for p in PROMPTS]
        assert got[-1].text == eng.generate([free])[0].text


def test_constrained_generation_answers_every_item(tiny):
    """eval's generate mode with constrain: every reply is an answer set the reader accepts;
    the choices are part of the cache key (a free reply is not served for a constrained one)."""
    from proda_ray.answering import answer_items
    from proda_ray.engines.cache import ResponseCache as RC

    eng = build_engine(TransformersEngineConfig(model_path=str(tiny), chat_template="plain"))
    items = [{"question": f"Which option names the {w} of the list?",
              "options": ["first", "second", "third", "fourth"], "answer": a}
             for w, a in (("first", "A"), ("last", "D"), ("middle two", "BC"))]
    out = answer_items(eng, items, 8, [], "generate", "plain_chat", constrain=True)
    assert all(o["parse_status"] == "letters" and o["predicted"] for o in out), out
    r = GenerationRequest("x", SamplingParams())
    assert RC.key("t", "m", r) != RC.key("t", "m", GenerationRequest("x", SamplingParams(),
                                                                     choices=(" A",)))
