"""SFT data for training: chat template, loss on answer tokens only, packing, splits.

* Each sample becomes ``input_ids`` + ``labels``; prompt tokens are labelled -100, so the
  loss covers only the answer (and its end-of-turn token).
* Base models without a chat template get proda's plain template (saved with the trained
  tokenizer, so evaluating the student later uses the same format).
* Packing fills sequences of ``max_seq_len`` with whole samples (first fit, deterministic).
  ``position_ids`` restart at 0 for each sample: transformers then builds a block-diagonal
  causal mask, so attention never crosses a sample boundary (tested: packed loss equals the
  unpacked loss).
* Train/validation split by a seeded hash of the sample id; the order of training sequences
  is a seeded permutation per epoch, addressed by global step, so a resumed run sees exactly
  the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from proda_ray.engines.models import PLAIN_CHAT_TEMPLATE
from proda_ray.ids import content_hash


def ensure_chat_template(tok) -> bool:
    """Give a tokenizer without a chat template proda's plain one. True if it was added."""
    if getattr(tok, "chat_template", None):
        return False
    tok.chat_template = PLAIN_CHAT_TEMPLATE
    return True


def encode(tok, prompt: str, response: str, max_len: int) -> tuple[list[int], list[int]] | None:
    """(input_ids, labels) for one sample, or None if it does not fit ``max_len``."""
    user = [{"role": "user", "content": prompt}]
    head = tok.apply_chat_template(user, add_generation_prompt=True, tokenize=True)
    full = tok.apply_chat_template([*user, {"role": "assistant", "content": response}],
                                   tokenize=True)
    head, full = _ids(head), _ids(full)
    if full[: len(head)] != head:  # templates that re-tokenize across the boundary
        full = head + _ids(tok(response, add_special_tokens=False)["input_ids"]) + [
            tok.eos_token_id]
    if tok.eos_token_id is not None and tok.eos_token_id not in full[-2:]:
        full = [*full, tok.eos_token_id]  # the answer must teach the model to stop
    if len(full) > max_len:
        return None
    return full, [-100] * len(head) + full[len(head):]


def _ids(x) -> list[int]:
    if isinstance(x, dict) or hasattr(x, "keys"):
        x = x["input_ids"]
    return list(x)


@dataclass
class Sequences:
    """Fixed-length training rows: (n, max_len) int arrays."""

    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    attention_mask: np.ndarray | None  # only without packing (padding); None when packed

    def __len__(self) -> int:
        return len(self.input_ids)

    def tokens(self) -> int:
        return int((self.labels != -100).sum())


def pack(encoded: list[tuple[list[int], list[int]]], max_len: int, pad_id: int,
         packing: bool = True) -> Sequences:
    """Samples -> fixed-length rows. Packed rows have per-sample position ids; unpacked rows
    are right-padded and carry an attention mask."""
    rows: list[list[tuple[list[int], list[int]]]] = []
    if packing:
        space: list[int] = []
        for ids, labels in encoded:  # first fit, in the given (deterministic) order
            for k, free in enumerate(space):
                if len(ids) <= free:
                    rows[k].append((ids, labels))
                    space[k] -= len(ids)
                    break
            else:
                rows.append([(ids, labels)])
                space.append(max_len - len(ids))
    else:
        rows = [[e] for e in encoded]
    n = len(rows)
    input_ids = np.full((n, max_len), pad_id, dtype=np.int64)
    labels = np.full((n, max_len), -100, dtype=np.int64)
    position_ids = np.zeros((n, max_len), dtype=np.int64)
    mask = None if packing else np.zeros((n, max_len), dtype=np.int64)
    for r, parts in enumerate(rows):
        at = 0
        for ids, lab in parts:
            input_ids[r, at : at + len(ids)] = ids
            labels[r, at : at + len(ids)] = lab
            position_ids[r, at : at + len(ids)] = np.arange(len(ids))
            at += len(ids)
        if packing:  # the padding tail is one more "sample" (its own positions, no loss)
            position_ids[r, at:] = np.arange(max_len - at)
        else:
            mask[r, :at] = 1
            position_ids[r, at:] = np.arange(at, max_len)
    return Sequences(input_ids, labels, position_ids, mask)


def split_ids(sample_ids: list[str], val_fraction: float, seed: int) -> set[str]:
    """The validation sample ids: a seeded hash decides, stable as the dataset grows. A
    small dataset whose hashes all miss the fraction still gets one validation sample (the
    lowest hash), so validation loss is never silently absent."""
    h = {s: int(content_hash(str(seed), "val", s), 16) / 16 ** 16 for s in sample_ids}
    val = {s for s, x in h.items() if x < val_fraction}
    if not val and val_fraction > 0 and len(h) >= 2:
        val = {min(h, key=h.__getitem__)}
    return val


@lru_cache(maxsize=4)
def order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded permutation of ``n`` rows for one epoch."""
    return np.array(random.Random(f"{seed}:epoch:{epoch}").sample(range(n), n), dtype=np.int64)


def batch_indices(n: int, *, step: int, micro_step: int, grad_accum: int, world: int,
                  rank: int, micro: int, seed: int) -> np.ndarray:
    """Rows for (optimizer step, micro-step, rank): a pure function of its arguments, so a
    resumed run reads exactly what the uninterrupted run read."""
    per_micro = world * micro
    start = (step * grad_accum + micro_step) * per_micro + rank * micro
    out = []
    for flat in range(start, start + micro):
        epoch, pos = divmod(flat, n)
        out.append(order(n, seed, epoch)[pos])
    return np.array(out, dtype=np.int64)
