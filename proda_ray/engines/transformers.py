"""Hugging Face checkpoints (fine-tuned students, base models) with batched ``generate``.

Requests are grouped by sampling settings and sorted by prompt length, so a batch pads
little; prompts are left-padded. Greedy requests are batched; sampled ones run one at a time
under their own seed, so a request's text does not depend on its batch mates. Output is not
grammar-constrained here (transformers has no built-in constrained decoding; xgrammar would
pull ~1 GB of triton): schema-bearing requests are validated by the caller
(``generate_json``), as with the ``openai`` engine's ``none`` mode. A request with
``choices`` is constrained to them (a token trie through ``prefix_allowed_tokens_fn``). A
failed batch is split in halves and retried (out-of-memory on long prompts), so one bad
request costs only itself; a request longer than the model's positions fails with
``context_overflow``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from itertools import groupby

from proda_ray.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    ScoringRequest,
    TransformersEngineConfig,
)


def checkpoint_id(path: str) -> str:
    """A model id that changes when the weights change: name + hash of file names/sizes/
    mtimes of the checkpoint (cheap; a retrained student in the same directory is new)."""
    h = hashlib.sha256()
    for root, _dirs, files in sorted(os.walk(path)):
        for f in sorted(files):
            st = os.stat(os.path.join(root, f))
            h.update(f"{os.path.relpath(os.path.join(root, f), path)}:{st.st_size}:"
                     f"{int(st.st_mtime)}".encode())
    return f"{os.path.basename(os.path.normpath(path))}:{h.hexdigest()[:16]}"


class TransformersEngine(Engine):
    kind = "transformers"

    def __init__(self, config: TransformersEngineConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        path = config.model_path
        if not os.path.isdir(path):
            raise FileNotFoundError(f"transformers engine: {path!r} is not a model directory")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") \
            if config.device == "auto" else config.device
        dtype = getattr(torch, config.dtype) if config.dtype != "auto" else "auto"
        # an adapter's directory carries the tokenizer (and chat template) it was trained with
        self.tok = AutoTokenizer.from_pretrained(config.adapter_path or path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device)
        if config.adapter_path:
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, config.adapter_path)
        self.model.eval()
        if config.chat_template == "plain":
            from proda_ray.engines.models import PLAIN_CHAT_TEMPLATE

            self.tok.chat_template = PLAIN_CHAT_TEMPLATE
        self.chat = (bool(config.chat_template) if config.chat_template is not None
                     else bool(getattr(self.tok, "chat_template", None)))
        self.max_len = config.max_model_len or getattr(
            self.model.config, "max_position_embeddings", None) or 1 << 30
        # the prompt the model sees depends on the chat wrapping: part of the cache key
        self._model_id = checkpoint_id(path) + (
            f"+{checkpoint_id(config.adapter_path)}" if config.adapter_path else "") + (
            ":plain" if config.chat_template == "plain" else ":chat" if self.chat else ":raw")
        self._torch = torch

    @property
    def parameters(self) -> int:
        """The model's parameter count (the eval stage picks its scoring mode by it)."""
        return sum(p.numel() for p in self.model.parameters())

    @property
    def model_id(self) -> str:
        return self._model_id

    def _text(self, prompt: str) -> str:
        if not self.chat:
            return prompt
        return self.tok.apply_chat_template([{"role": "user", "content": prompt}],
                                            tokenize=False, add_generation_prompt=True)

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        out: list[GenerationResult | None] = [None] * len(requests)
        texts = [self._text(r.prompt) for r in requests]
        lengths = [len(ids) for ids in self.tok(texts, add_special_tokens=not self.chat)[
            "input_ids"]]
        for i, (r, n) in enumerate(zip(requests, lengths, strict=True)):
            if n + r.params.max_tokens > self.max_len:  # never silently past the positions
                out[i] = GenerationResult(None, n, 0, 0.0, error=(
                    f"context_overflow: {n} prompt + {r.params.max_tokens} completion tokens "
                    f"> the model's {self.max_len}"))
        lengths = [n if out[i] is None else -1 for i, n in enumerate(lengths)]

        def settings(i: int) -> str:
            return json.dumps([requests[i].params.model_dump(mode="json"),
                               requests[i].choices], sort_keys=True)

        order = sorted((i for i in range(len(requests)) if out[i] is None),
                       key=lambda i: (settings(i), lengths[i]))
        for _key, group in groupby(order, key=settings):
            idx = list(group)
            # a sampled request is generated alone: its seed then fixes its text whatever
            # else is in flight (the cache key's promise); greedy requests batch freely
            size = self.config.batch_size if requests[idx[0]].params.temperature == 0 else 1
            for b in range(0, len(idx), size):
                self._batch(idx[b : b + size], requests, texts, out)
        return out  # type: ignore[return-value]

    def _batch(self, idx: list[int], requests, texts, out) -> None:
        t0 = time.perf_counter()
        try:
            results = self._generate([texts[i] for i in idx], requests[idx[0]])
        except Exception as e:
            if len(idx) > 1:
                half = len(idx) // 2
                self._batch(idx[:half], requests, texts, out)
                self._batch(idx[half:], requests, texts, out)
                return
            out[idx[0]] = GenerationResult(None, latency_s=time.perf_counter() - t0,
                                           error=f"engine_error: {type(e).__name__}: {e}")
            return
        latency = (time.perf_counter() - t0) / len(idx)  # the batch's time, shared out
        for i, (text, n_in, n_out) in zip(idx, results, strict=True):
            out[i] = GenerationResult(text, n_in, n_out, latency)

    def _generate(self, texts: list[str], req: GenerationRequest
                  ) -> list[tuple[str, int, int]]:
        torch, p = self._torch, req.params
        enc = self.tok(texts, return_tensors="pt", padding=True,
                       add_special_tokens=not self.chat).to(self.device)
        kwargs = {"max_new_tokens": p.max_tokens, "pad_token_id": self.tok.pad_token_id,
                  "do_sample": p.temperature > 0}
        if p.temperature > 0:
            kwargs.update(temperature=p.temperature, top_p=p.top_p)
            torch.manual_seed(p.seed)
        if req.choices:
            seqs = [self.tok(c, add_special_tokens=False)["input_ids"] for c in req.choices]
            kwargs["prefix_allowed_tokens_fn"] = self._choice_constraint(
                seqs, enc["input_ids"].shape[1])
            kwargs["max_new_tokens"] = max(len(s) for s in seqs) + 1
        with torch.inference_mode():
            gen = self.model.generate(**enc, **kwargs)
        new = gen[:, enc["input_ids"].shape[1]:]
        stops = {self.tok.eos_token_id, self.tok.pad_token_id}
        results = []
        for row, mask in zip(new.tolist(), enc["attention_mask"].tolist(), strict=True):
            n = next((k for k, t in enumerate(row) if t in stops), len(row))
            text = self.tok.decode(row[:n], skip_special_tokens=True)
            n = min(n + 1, len(row))  # the end-of-sequence token was generated too
            for s in p.stop:  # stop strings: cut the text (the tokens were generated)
                if s in text:
                    text = text[: text.index(s)]
            results.append((text, int(sum(mask)), n))
        return results

    def _choice_constraint(self, seqs: list[list[int]], prompt_len: int):
        """Guided choice: at each step only tokens that continue one of the choices' token
        sequences ``seqs`` (tokenized as the log-likelihood path tokenizes continuations);
        end of sequence once one is complete. Greedy decoding then writes the choice its
        first tokens make likeliest."""
        eos = self.tok.eos_token_id

        def allowed(_batch_id: int, ids) -> list[int]:
            done = ids[prompt_len:].tolist()
            k = len(done)
            nxt = {s[k] for s in seqs if len(s) > k and s[:k] == done}
            if any(s == done for s in seqs) or not nxt:
                nxt.add(eos)
            return sorted(nxt)

        return allowed

    def loglikelihood(self, requests: list[ScoringRequest]) -> list[GenerationResult]:
        """Sum of the continuation tokens' log-probabilities after the (chat-wrapped) context,
        the context and each continuation tokenized separately and joined. The context runs
        once; its key/value cache is repeated for the continuations (answer sets are a few
        tokens: scoring 15 of them costs about one forward pass of the prompt)."""
        out = []
        for r in requests:
            t0 = time.perf_counter()
            ctx = self.tok(self._text(r.context), add_special_tokens=not self.chat)["input_ids"]
            conts = [self.tok(c, add_special_tokens=False)["input_ids"] for c in r.continuations]
            longest = len(ctx) + max(len(c) for c in conts)
            if longest > self.max_len:
                out.append(GenerationResult(None, len(ctx), error=(
                    f"context_overflow: {longest} tokens > the model's {self.max_len}")))
                continue
            try:
                scores = self._score(ctx, conts)
            except Exception as e:  # one bad request costs only itself
                out.append(GenerationResult(None, len(ctx), error=(
                    f"engine_error: {type(e).__name__}: {e}")))
                continue
            out.append(GenerationResult(json.dumps(scores), len(ctx),
                                        sum(len(c) for c in conts),
                                        time.perf_counter() - t0))
        return out

    def _score(self, ctx: list[int], conts: list[list[int]]) -> list[list[float]]:
        torch = self._torch
        with torch.inference_mode():
            first = self.model(input_ids=torch.tensor([ctx], device=self.device),
                               use_cache=True)
            last = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
            n = len(conts)
            width = max(len(c) for c in conts)
            ids = torch.full((n, width), self.tok.pad_token_id, dtype=torch.long)
            for k, c in enumerate(conts):  # right-padded after the shared context
                ids[k, : len(c)] = torch.tensor(c)
            mask = torch.ones((n, len(ctx) + width), dtype=torch.long)
            for k, c in enumerate(conts):
                mask[k, len(ctx) + len(c):] = 0
            cache = first.past_key_values
            cache.batch_repeat_interleave(n)
            logp = None
            if width > 1:
                nxt = self.model(input_ids=ids[:, :-1].to(self.device),
                                 attention_mask=mask[:, :-1].to(self.device),
                                 past_key_values=cache, use_cache=False)
                logp = torch.log_softmax(nxt.logits.float(), dim=-1)
        scores = []
        for k, c in enumerate(conts):
            total = float(last[c[0]])
            for j in range(1, len(c)):  # token j is predicted at position j-1 of the batch
                total += float(logp[k, j - 1, c[j]])
            scores.append([total, len(c)])
        return scores
