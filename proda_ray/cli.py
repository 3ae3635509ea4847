"""``proda``: the command-line front door. One command per stage, plus init/run/status.

Every command takes ``--workspace`` (a local directory or an object-store URI such as
``s3://bucket/project``); the project config lives there as ``proda.yaml``. A stage command
reads the config once — the project file, then ``--preset`` (the train section), then the
command's own flags, then ``--set`` — builds its stages through ``pipeline.build_stage`` and
runs them with ``_run``; ``console`` prints the results.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from proda_ray import __version__
from proda_ray import cli_options as o
from proda_ray.config import ProjectConfig, apply_overrides
from proda_ray.console import console, fail, intro, stage_lines
from proda_ray.workspace import Workspace


class _App(typer.Typer):
    """The ``proda`` app: an error nobody expected (a bug, a broken install) is still one line
    with exit 1; ``--debug`` (or ``PRODA_DEBUG=1``) shows its traceback instead."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:
            if _debug():
                raise
            from proda_ray.console import LAST_LOG

            cause = getattr(e, "cause", None)  # a Ray task's error: the one it wraps
            err = cause if isinstance(cause, Exception) else e
            first = (str(err).strip().splitlines() or [""])[0][:300]
            where = f"the traceback is in {LAST_LOG[0]}, or rerun" if LAST_LOG[0] else "rerun"
            console.print(f"[red]error: {type(err).__name__}: {first}[/red] (a bug or a broken "
                          f"setup, not your input; {where} with --debug)", highlight=False)
            raise SystemExit(1) from None


def _debug() -> bool:
    return os.environ.get("PRODA_DEBUG", "") not in ("", "0")


app = _App(
    name="proda",
    help=(
        "proda-ray: test-driven data engineering for domain LLMs, on Ray.\n\n"
        "A workspace holds one project: its config (proda.yaml), every stage's Parquet tables "
        "and a manifest per stage (fingerprint, counts, rejections with reasons, timings). "
        "Stages are cached by fingerprint: rerunning an unchanged stage is a no-op, and a "
        "killed run resumes where it stopped.\n\n"
        "Start with:  proda init WS --corpus PATH  then  proda run --workspace WS"
    ),
    no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
)
ERRORS = (RuntimeError, ValueError, KeyError, FileNotFoundError, NotImplementedError)


def _version(value: bool) -> None:
    if value:
        print(f"proda-ray {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, o.Opt("--version", callback=_version, is_eager=True,
                                 help="Print the version and exit.")] = False,
    verbose: Annotated[bool, o.Opt("--verbose", "-v", help="Debug logging.")] = False,
    debug: Annotated[bool, o.Opt("--debug", help="Show the traceback of any error (errors are "
                                             "one line without it).")] = False,
) -> None:
    if debug:
        os.environ["PRODA_DEBUG"] = "1"
    if verbose:
        os.environ["PRODA_VERBOSE"] = "1"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _config(workspace: str, *, preset: str | None = None, flags: list[str] | None = None,
            set_: list[str] | None = None, corpus: list[str] | None = None
            ) -> tuple[Workspace, ProjectConfig]:
    """The project config with the one override order: proda.yaml, ``--preset`` (replaces
    the train section), the command's flags (as dotted overrides), ``--set``."""
    from proda_ray.cli_workspace import open_workspace

    ws = open_workspace(workspace)
    try:
        cfg = ProjectConfig.load(ws)
        if preset:
            from proda_ray.compile.config import load_preset

            cfg.train = load_preset(preset)
        cfg = apply_overrides(cfg, flags or [])  # validated: defaults filled in first
        cfg = apply_overrides(cfg, set_ or [])
    except ValueError as e:
        if _debug():
            raise
        fail(f"config error: {e}")
    if corpus:
        cfg.spec.corpus = [p if "://" in p else str(Path(p).expanduser().absolute())
                           for p in corpus]
    return ws, cfg


def _flags(**values) -> list[str]:
    """``section.field=value`` overrides for the flags that were given."""
    return [f"{k.replace('__', '.')}={json.dumps(v)}" for k, v in values.items()
            if v is not None]


def _start_ray(cfg: ProjectConfig, address: str | None) -> None:
    from proda_ray.console import spinner
    from proda_ray.runtime import ensure_ray

    with spinner("starting Ray…") if console.is_terminal else contextlib.nullcontext():
        ensure_ray(address or cfg.ray.address, cfg.ray.num_cpus,
                   placement=cfg.ray.placement, scalable_kinds=cfg.ray.scalable_kinds)


def _run(ws: Workspace, cfg: ProjectConfig, names: list[str], *, address: str | None,
         force: bool = False, quiet: bool = False, **build) -> None:
    """The generic runner behind every stage command: build each stage through the
    registry, bring it up to date, print its lines; an expected error is one red line."""
    from proda_ray.pipeline import STAGES, build_stage
    from proda_ray.workspace import run_stage
    from proda_ray.workspace.runner import missing_inputs, pending

    try:  # the wrong order of stages is one line before Ray starts
        first = build_stage(names[0], cfg, **build)
        missing = missing_inputs(ws, first)
        first.check()
    except ERRORS as e:
        if _debug():
            raise
        fail(f"{names[0]}: {e}")
    if missing:
        fail(f"{names[0]}: {missing}")
    with _session(ws, names[0], quiet) as live:
        ray_started = False  # Ray starts (2-4 s) only once a stage has work to do
        for name in names:
            try:
                stage = first if name == names[0] else build_stage(name, cfg, **build)
                if not ray_started and pending(ws, stage, force):
                    _start_ray(cfg, address)
                    ray_started = True
                if not quiet:
                    console.print(f"[cyan]›[/cyan] {stage.name}: {STAGES[name].help}"
                                  f"{intro(stage)}", highlight=False)
                live.start(stage.name)
                try:
                    r = run_stage(ws, stage, force=force, show_progress=False,
                                  guard=live.guard)
                finally:
                    live.stop()
                stage_lines(stage.name, r)
            except ERRORS as e:
                if _debug():
                    raise
                fail(f"{name}: {e}")


_LOG_FILE: list[str | None] = [None]


@contextlib.contextmanager
def _session(ws: Workspace, command: str, quiet: bool):
    """What a command that builds stages holds while it runs: the workspace's lease (a
    second run exits 2 with who holds it), Ray's output sent to a log file (not with
    ``--verbose``/``--debug``), and the live progress line."""
    from proda_ray.console import LiveLine, log_path, ray_output_to
    from proda_ray.executors.base import set_progress
    from proda_ray.workspace.lease import Lease, WorkspaceBusy

    lease = Lease(ws, f"proda {command}")
    try:
        lease.acquire()
    except WorkspaceBusy as e:
        fail(str(e))
    live = LiveLine(quiet=quiet)
    live.guard = lease.check  # no stage commits once another run has taken the workspace
    keep_all = _debug() or os.environ.get("PRODA_VERBOSE") == "1"
    _LOG_FILE[0] = None if keep_all else str(log_path(ws, command))
    try:
        with ray_output_to(_LOG_FILE[0] and Path(_LOG_FILE[0])):
            set_progress(live.update)
            try:
                yield live
            except KeyboardInterrupt:
                if lease.lost:  # interrupted by its own heartbeat: say why
                    fail(f"stopped: another run took over {ws.uri} ({lease.taken_by}); this "
                         "run's finished units are kept")
                raise
            finally:
                lease.stop_heartbeat()
                set_progress(None)
                live.stop()
    finally:
        lease.release()
        if not ws.is_local and (log := _LOG_FILE[0]) and os.path.exists(log):
            with contextlib.suppress(OSError):  # an object-store workspace keeps its log too
                ws.write_bytes(f"logs/{os.path.basename(log)}", Path(log).read_bytes())


def _need_corpus(cfg: ProjectConfig) -> None:
    if not cfg.spec.corpus:
        fail("no corpus: pass --corpus PATH or set spec.corpus in proda.yaml")


@app.command()
def spec(
    workspace: o.WorkspaceOpt, corpus: o.CorpusOpt = None,
    chunk_tokens: Annotated[int | None, o.Opt(
        "--chunk-tokens", help="Token budget per chunk (spec.chunk.max_tokens).")] = None,
    overlap_tokens: Annotated[int | None, o.Opt(
        "--overlap-tokens", help="Overlap between chunks (spec.chunk.overlap_tokens).")] = None,
    set_: o.SetOpt = None, address: o.AddressOpt = None, workers: o.WorkersOpt = None,
    force: o.ForceOpt = False, quiet: o.QuietOpt = False,
) -> None:
    """Corpus -> clean, deduplicated, discipline-tagged chunks (tables: documents, chunks)."""
    ws, cfg = _config(workspace, flags=_flags(spec__chunk__max_tokens=chunk_tokens,
                                              spec__chunk__overlap_tokens=overlap_tokens),
                      set_=set_, corpus=corpus)
    _need_corpus(cfg)
    _run(ws, cfg, ["spec"], address=address, force=force, quiet=quiet, workers=workers)


@app.command()
def extract(
    workspace: o.WorkspaceOpt,
    engine: Annotated[str | None, o.Opt(
        "--engine", help="local (embedded Gemma 3 270M, CPU) | openai (any OpenAI-compatible "
        "server) | vllm (ray.data.llm on GPU clusters) | transformers (a local HF "
        "checkpoint: --model DIR).")] = None,
    limit: Annotated[int | None, o.Opt(
        "--limit", help="Extract at most N chunks, spread across disciplines.")] = None,
    base_url: Annotated[str | None, o.Opt(
        "--base-url", help="openai engine: server URL up to /v1.")] = None,
    model: Annotated[str | None, o.Opt(
        "--model", help="Model: openai/vllm name or path, local GGUF file, transformers "
        "directory.")] = None,
    set_: o.SetOpt = None, address: o.AddressOpt = None, workers: o.WorkersOpt = None,
    force: o.ForceOpt = False, quiet: o.QuietOpt = False,
) -> None:
    """Chunks -> Knowledge Core: chains, grounded statements, canonical concepts, kc_index."""
    new_engine = None
    if engine:  # a new engine replaces the configured one; --set may then adjust it
        field = "model" if engine in ("openai", "vllm") else "model_path"
        new_engine = {"kind": engine} | ({"base_url": base_url} if base_url else {}) \
            | ({field: model} if model else {})
    ws, cfg = _config(workspace, flags=_flags(extract__engine=new_engine,
                                              extract__limit=limit), set_=set_)
    _run(ws, cfg, ["extract", "merge"], address=address, force=force, quiet=quiet,
         workers=workers)


def _plain(name: str, doc: str):
    """A stage command with only the common options."""
    def command(workspace: o.WorkspaceOpt, set_: o.SetOpt = None, address: o.AddressOpt = None,
                workers: o.WorkersOpt = None, force: o.ForceOpt = False,
                quiet: o.QuietOpt = False) -> None:
        ws, cfg = _config(workspace, set_=set_)
        _run(ws, cfg, [name], address=address, force=force, quiet=quiet, workers=workers)

    command.__doc__ = doc
    return app.command(name)(command)


_plain("bench", "Knowledge Core -> benchmark: items from L3 chains, gated, split into dev and "
       "test.")
_plain("build", "Knowledge Core (L1/L2 only) -> SFT samples, decontaminated against the "
       "benchmark.")


@app.command()
def train(
    workspace: o.WorkspaceOpt,
    dataset: Annotated[str | None, o.Opt(
        "--dataset", help="SFT dataset to train on (default: train.dataset).")] = None,
    base: Annotated[str | None, o.Opt(
        "--base", help="Base model: HF directory, bundled:gemma-3-270m, or tiny.")] = None,
    method: Annotated[str | None, o.Opt("--method", help="full | lora")] = None,
    round_: o.RoundOpt = 1, arm: o.ArmOpt = None, preset: o.PresetOpt = None, set_: o.SetOpt = None,
    address: o.AddressOpt = None, force: o.ForceOpt = False, quiet: o.QuietOpt = False,
) -> None:
    """SFT samples -> a fine-tuned model, on Ray Train (DeepSpeed ZeRO-2/3 or DDP).

    Rerunning after a crash resumes from the latest checkpoint; an unchanged, finished run
    is a no-op. The model lands in <workspace>/models/<fingerprint>/model."""
    ws, cfg = _config(workspace, preset=preset, set_=set_, flags=_flags(
        train__dataset=dataset, train__base=base, train__method=method))
    _run(ws, cfg, ["train"], address=address, force=force, quiet=quiet, round=round_, arm=arm)


@app.command(name="eval")
def eval_(
    workspace: o.WorkspaceOpt, round_: Annotated[int, o.Opt("--round",
                                                        help="Whose trained model.")] = 1,
    arm: o.ArmOpt = None,
    model: Annotated[str | None, o.Opt(
        "--model", help="trained | base | a model directory/URI | engine (eval.model).")] = None,
    label: Annotated[str | None, o.Opt(
        "--label", help="Name a reference evaluation (eval.<label>) instead of a round's.")
    ] = None,
    set_: o.SetOpt = None, address: o.AddressOpt = None, force: o.ForceOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """Answer every benchmark item with a model: accuracy with bootstrap intervals per split,
    discipline, question type, knowledge level and node; round n vs n-1 item by item."""
    ws, cfg = _config(workspace, flags=_flags(eval__model=model), set_=set_)
    if cfg.eval.model != "trained" and not label:
        if cfg.eval.model != "base":
            fail("a model other than the round's trained one needs --label NAME "
                 "(its results go to eval.NAME)")
        label = "base"
    _run(ws, cfg, ["eval"], address=address, force=force, quiet=quiet, round=round_, arm=arm,
         label=label)


@app.command()
def debug(
    workspace: o.WorkspaceOpt,
    round_: Annotated[int, o.Opt("--round", help="The round whose dev failures to repair "
                                               "(writes sft_v<round+1>).")] = 1,
    set_: o.SetOpt = None, address: o.AddressOpt = None, force: o.ForceOpt = False,
    quiet: o.QuietOpt = False,
) -> None:
    """dev failures -> knowledge nodes -> concept gap / chain break (probed) -> grounded
    patches + replay -> the next dataset version. Never reads the test split."""
    ws, cfg = _config(workspace, set_=set_)
    _run(ws, cfg, ["debug"], address=address, force=force, quiet=quiet, round=round_)


@app.command()
def run(
    workspace: o.WorkspaceOpt, corpus: o.CorpusOpt = None,
    rounds: Annotated[int | None, o.Opt(
        "--rounds", help="Train/eval rounds with a debug between them (loop.rounds).")] = None,
    preset: o.PresetOpt = None, set_: o.SetOpt = None, address: o.AddressOpt = None,
    workers: o.WorkersOpt = None, quiet: o.QuietOpt = False,
) -> None:
    """Run the loop: spec -> extract -> merge -> bench -> build -> (train -> eval -> debug)×n,
    then write the report. Every stage is skipped when up to date; a killed run resumes in
    the stage it was killed in. The report lands in <workspace>/reports/report.md."""
    from proda_ray.loop import run_loop
    from proda_ray.report import write_report

    ws, cfg = _config(workspace, preset=preset, flags=_flags(loop__rounds=rounds), set_=set_,
                      corpus=corpus)
    if "spec" in cfg.loop.stages:
        _need_corpus(cfg)
    t0 = time.perf_counter()
    with _session(ws, "run", quiet) as live:
        if not ws.exists("proda.yaml"):
            cfg.save(ws)
        _start_ray(cfg, address)

        def finished(name, r) -> None:
            live.stop()
            stage_lines(name, r)

        try:
            run_loop(ws, cfg, workers=workers, show_progress=False, on_start=live.start,
                     on_stage=finished, guard=live.guard)
        except ERRORS as e:
            if _debug():
                raise
            fail(str(e))
        from proda_ray.exports import export_workspace

        for line in export_workspace(ws)[1]:
            console.print(line)
        if "eval" in cfg.loop.stages:
            console.print(f"[green]report[/green] → {write_report(ws)['report.md']}")
    console.print(f"[bold green]loop done[/bold green] in {time.perf_counter() - t0:.1f}s · "
                  f"`proda status --workspace {workspace}` for details")


from proda_ray import cli_cluster, cli_workspace  # noqa: E402 - their commands join this app

for _sub in (cli_workspace, cli_cluster):
    app.registered_commands += _sub.app.registered_commands
    app.registered_groups += _sub.app.registered_groups

if __name__ == "__main__":
    app()
