"""Training data mechanics: answer-only loss, packing boundaries, splits, step-addressed order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from proda_ray.compile.data import batch_indices, encode, pack, split_ids
from proda_ray.engines.models import tiny_causal_lm

SAMPLES = [("What moves water?", "The water cycle."),
           ("What does heat make?", "Heat makes vapour from water."),
           ("Where is water found?", "In the sea, in the air and on land.")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tiny_causal_lm(tmp_path_factory.mktemp("m") / "tiny",
                          ["The water cycle moves water between sea, air and land."] * 30)
    return AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()


def test_loss_covers_only_the_answer(tiny):
    tok, _ = tiny
    ids, labels = encode(tok, *SAMPLES[0], max_len=128)
    answer = [tok.decode([t]) for t, lab in zip(ids, labels, strict=True) if lab != -100]
    assert "".join(answer).startswith("The water cycle.") and answer[-1] == tok.eos_token
    assert encode(tok, *SAMPLES[0], max_len=5) is None  # too long: the caller counts it


def test_packing_keeps_attention_inside_each_sample(tiny):
    """Packed rows give the same loss as the samples run one by one."""
    tok, model = tiny
    enc = [encode(tok, p, r, 128) for p, r in SAMPLES]
    packed = pack(enc, 128, tok.pad_token_id, packing=True)
    assert len(packed) == 1
    with torch.no_grad():
        got = model(input_ids=torch.tensor(packed.input_ids),
                    position_ids=torch.tensor(packed.position_ids),
                    labels=torch.tensor(packed.labels), use_cache=False).loss.item()
        total = n = 0
        for ids, labels in enc:
            k = sum(1 for x in labels[1:] if x != -100)
            total += model(input_ids=torch.tensor([ids]),
                           labels=torch.tensor([labels])).loss.item() * k
            n += k
    assert got == pytest.approx(total / n, abs=1e-5)
    unpacked = pack(enc, 128, tok.pad_token_id, packing=False)
    assert len(unpacked) == 3 and unpacked.attention_mask.sum() == sum(len(e[0]) for e in enc)


def test_split_and_order_are_seeded_and_step_addressed():
    ids = [f"sft-{i:04d}" for i in range(200)]
    val = split_ids(ids, 0.1, seed=3)
    assert val == split_ids(list(reversed(ids)), 0.1, seed=3) and 5 < len(val) < 40
    assert split_ids(ids, 0.1, seed=4) != val
    kw = {"grad_accum": 2, "world": 2, "micro": 3, "seed": 1}
    seen = [batch_indices(50, step=s, micro_step=m, rank=r, **kw)
            for s in range(5) for m in range(2) for r in range(2)]
    flat = np.concatenate(seen)
    assert len(set(flat[:50].tolist())) == 50  # one epoch visits every row once
    again = batch_indices(50, step=4, micro_step=1, rank=1, **kw)
    assert (again == seen[-1]).all()  # a pure function of the step: resume reads the same


def test_a_small_dataset_still_gets_a_validation_sample():
    for n in (2, 3, 5, 8):
        ids = [f"sft-{i}" for i in range(n)]
        val = split_ids(ids, 0.05, seed=0)
        assert len(val) >= 1 and len(val) < n
    assert split_ids(["only"], 0.1, seed=0) <= {"only"}
    assert split_ids(["a", "b"], 0.0, seed=0) == set()
