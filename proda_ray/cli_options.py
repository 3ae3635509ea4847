"""The options the ``proda`` commands share (typer ``Annotated`` types)."""

from __future__ import annotations

from typing import Annotated

import typer

Opt = typer.Option
WorkspaceOpt = Annotated[str, Opt("--workspace", "-w",
                                  help="Workspace directory or URI (s3://…, gs://…).")]
AddressOpt = Annotated[str | None, Opt(
    "--address", help="Attach to a Ray cluster ('auto', 'ray://host:10001'). "
    "Default: a local single-node Ray sized to this machine.")]
WorkersOpt = Annotated[int | None, Opt("--workers",
                                       help="Parallel tasks/actors (default: all CPUs).")]
SetOpt = Annotated[list[str] | None, Opt(
    "--set", help="Override any config field for this run: "
    "--set spec.chunk.max_tokens=512 (repeatable).")]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="No progress bars.")]
ForceOpt = Annotated[bool, Opt("--force", help="Rebuild even if up to date.")]
CorpusOpt = Annotated[list[str] | None, Opt(
    "--corpus", "-c", help="Corpus files, directories or globs (repeatable); "
    "default: spec.corpus from proda.yaml.")]
PresetOpt = Annotated[str | None, Opt(
    "--preset", help="cpu-tiny | cpu-gemma-270m | gpu-3b-zero2 | gpu-7b-zero3 | "
    "gpu-32b-zero3-offload (then --set/flags override it).")]
RoundOpt = Annotated[int, Opt("--round", help="Round n > 1 trains sft_v<n> (written by "
                                              "`proda debug --round n-1`) from the same base.")]
ArmOpt = Annotated[str | None, Opt(
    "--arm", help="blind: a repair round's control (dataset sft_v<n>_blind, model compared "
    "with the targeted one).")]
