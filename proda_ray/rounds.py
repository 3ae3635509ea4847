"""Round-suffixed names: the closed loop runs train/eval/debug once per round.

Round 1 keeps the plain names (``train``, ``train_metrics``, ``sft_samples``); round n > 1
appends ``.r<n>`` (``train.r2`` reads ``sft_samples.r2``, the dataset ``sft_v2`` that the
debug stage of round 1 wrote). Every round's stages and tables live side by side: nothing
of an earlier round is overwritten, and each is cached by its own fingerprint.

A repair round n > 1 also has a control *arm*: ``blind`` trains on as many samples drawn
without diagnosis from the whole knowledge core, with the same replay and steps
(``train.r2.blind`` reads ``sft_samples.r2.blind``, the dataset ``sft_v2_blind``), so the
report can show targeted − blind.
"""

from __future__ import annotations

ARMS = ("blind",)


def rname(base: str, round_: int, arm: str | None = None) -> str:
    """``base`` for round 1, ``base.r<n>`` after; ``base.r<n>.<arm>`` for a control arm."""
    if round_ < 1:
        raise ValueError(f"rounds start at 1, got {round_}")
    if arm is not None and (arm not in ARMS or round_ < 2):
        raise ValueError(f"arm {arm!r}: a control arm of a repair round (n > 1) is one of "
                         f"{ARMS}")
    name = base if round_ == 1 else f"{base}.r{round_}"
    return f"{name}.{arm}" if arm else name


def dataset_name(round_: int, arm: str | None = None) -> str:
    """The SFT dataset a round trains on: sft_v1, sft_v2, … (sft_v2_blind: its control)."""
    return f"sft_v{round_}" + (f"_{arm}" if arm else "")
