"""Round-suffixed names: the closed loop runs train/eval/debug once per round.

Round 1 keeps the plain names (``train``, ``train_metrics``, ``sft_samples``); round n > 1
appends ``.r<n>`` (``train.r2`` reads ``sft_samples.r2``, the dataset ``sft_v2`` that the
debug stage of round 1 wrote). Every round's stages and tables live side by side: nothing
of an earlier round is overwritten, and each is cached by its own fingerprint.
"""

from __future__ import annotations


def rname(base: str, round_: int) -> str:
    """``base`` for round 1, ``base.r<n>`` after."""
    if round_ < 1:
        raise ValueError(f"rounds start at 1, got {round_}")
    return base if round_ == 1 else f"{base}.r{round_}"


def dataset_name(round_: int) -> str:
    """The SFT dataset a round trains on: sft_v1, sft_v2, …"""
    return f"sft_v{round_}"
