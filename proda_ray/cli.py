"""``proda``: the command-line front door. One command per stage, plus init/run/status.

Every command takes ``--workspace`` (a local directory or an object-store URI such as
``s3://bucket/project``); the project config lives there as ``proda.yaml``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from proda_ray import __version__
from proda_ray.config import ProjectConfig, apply_overrides
from proda_ray.workspace import Workspace

app = typer.Typer(
    name="proda",
    help=(
        "proda-ray: test-driven data engineering for domain LLMs, on Ray.\n\n"
        "A workspace holds one project: its config (proda.yaml), every stage's Parquet tables "
        "and a manifest per stage (fingerprint, counts, rejections with reasons, timings). "
        "Stages are cached by fingerprint: rerunning an unchanged stage is a no-op, and a "
        "killed run resumes where it stopped.\n\n"
        "Start with:  proda init WS --corpus PATH  then  proda run --workspace WS"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(stderr=True)

WorkspaceOpt = Annotated[
    str, typer.Option("--workspace", "-w", help="Workspace directory or URI (s3://…, gs://…).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Attach to a Ray cluster ('auto', 'ray://host:10001'). "
                 "Default: a local single-node Ray sized to this machine."),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="Parallel tasks/actors (default: all CPUs).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any config field for this run: "
                 "--set spec.chunk.max_tokens=512 (repeatable)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Rebuild even if up to date.")]


def _version(value: bool) -> None:
    if value:
        print(f"proda-ray {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _load(workspace: str, overrides: list[str] | None, corpus: list[str] | None = None
          ) -> tuple[Workspace, ProjectConfig]:
    ws = Workspace(workspace)
    try:
        cfg = apply_overrides(ProjectConfig.load(ws), overrides or [])
    except ValueError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2) from None
    if corpus:
        cfg.spec.corpus = [_abs(p) for p in corpus]
    return ws, cfg


def _abs(p: str) -> str:
    return p if "://" in p else str(Path(p).expanduser().absolute())


@app.command()
def init(
    workspace: Annotated[str, typer.Argument(help="Directory or URI for the new project.")],
    corpus: Annotated[list[str] | None, typer.Option(
        "--corpus", "-c", help="Corpus files, directories or globs (repeatable).")] = None,
    name: Annotated[str | None, typer.Option(help="Project name.")] = None,
) -> None:
    """Create a workspace with a default proda.yaml (existing config is kept and updated)."""
    ws = Workspace(workspace)
    cfg = ProjectConfig.load(ws)
    if corpus:
        cfg.spec.corpus = [_abs(p) for p in corpus]
    if name:
        cfg.name = name
    ws.makedirs()
    cfg.save(ws)
    console.print(f"[green]workspace ready[/green] {ws.uri}  (config: proda.yaml)")
    if not cfg.spec.corpus:
        console.print("next: set spec.corpus in proda.yaml, or pass --corpus to `proda spec`")


def _start_ray(cfg: ProjectConfig, address: str | None) -> None:
    from proda_ray.runtime import ensure_ray

    with console.status("starting Ray…"):
        ensure_ray(address or cfg.ray.address, cfg.ray.num_cpus)


def _run_spec(ws: Workspace, cfg: ProjectConfig, workers: int | None, force: bool,
              quiet: bool):
    from proda_ray.spec.stage import SpecStage
    from proda_ray.workspace import run_stage

    if not cfg.spec.corpus:
        console.print("[red]no corpus:[/red] pass --corpus PATH or set spec.corpus in proda.yaml")
        raise typer.Exit(2)
    stage = SpecStage(cfg.spec, workers=workers or cfg.ray.workers,
                      on_phase=lambda msg: console.print(f"[cyan]›[/cyan] {msg}"))
    try:
        result = run_stage(ws, stage, force=force, show_progress=not quiet)
    except FileNotFoundError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    m = result.manifest
    verb = {"built": "built", "up-to-date": "up to date", "restored": "restored"}[result.status]
    rejected = sum(sum(r.values()) for r in m.rejected.values())
    console.print(
        f"[green]spec {verb}[/green] in {result.seconds:.1f}s · fingerprint {m.fingerprint} · "
        f"{m.counters.get('documents', 0)} documents · {m.counters.get('chunks', 0)} chunks · "
        f"{rejected} rejected (see `proda status`)"
    )
    return result


def _report(name: str, result) -> None:
    m = result.manifest
    verb = {"built": "built", "up-to-date": "up to date", "restored": "restored"}[result.status]
    rejected = sum(sum(r.values()) for r in m.rejected.values())
    shown = ", ".join(f"{m.counters[k]} {k}" for k in ("chains", "statements", "concepts",
                                                       "items", "samples")
                      if k in m.counters)
    u = m.usage
    cost = (f" · LLM {u.calls} calls ({u.cached_calls} cached), "
            f"{u.prompt_tokens + u.completion_tokens} tokens") if u.calls + u.cached_calls else ""
    console.print(f"[green]{name} {verb}[/green] in {result.seconds:.1f}s · {shown or 'done'}"
                  f" · {rejected} rejected{cost}")


def _run_knowledge(ws: Workspace, cfg: ProjectConfig, workers: int | None, force: bool,
                   quiet: bool) -> None:
    from proda_ray.knowledge.merge_stage import MergeStage
    from proda_ray.knowledge.stage import ExtractStage
    from proda_ray.workspace import run_stage

    console.print("[cyan]›[/cyan] extract: L3 chains -> L2 statements -> L1 concepts "
                  f"(engine: {cfg.extract.engine.kind})")
    try:
        _report("extract", run_stage(ws, ExtractStage(cfg.extract, workers=workers or
                                                      cfg.ray.workers),
                                     force=force, show_progress=not quiet))
    except (RuntimeError, NotImplementedError) as e:
        console.print(f"[red]extract: {e}[/red]")
        raise typer.Exit(2) from None
    _report("merge", run_stage(ws, MergeStage(cfg.merge), force=force, show_progress=not quiet))


def _run_bench(ws: Workspace, cfg: ProjectConfig, workers: int | None, force: bool,
               quiet: bool) -> None:
    from proda_ray.tester.stage import BenchStage
    from proda_ray.workspace import run_stage

    console.print("[cyan]›[/cyan] bench: L3 chains -> gated items, dev/test splits "
                  f"(generators: {', '.join(cfg.bench.generators)})")
    try:
        r = run_stage(ws, BenchStage(cfg.bench, workers=workers or cfg.ray.workers),
                      force=force, show_progress=not quiet)
    except (RuntimeError, NotImplementedError) as e:
        console.print(f"[red]bench: {e}[/red]")
        raise typer.Exit(2) from None
    _report("bench", r)
    splits = r.manifest.report.get("splits", {})
    console.print(f"  items: {r.manifest.counters.get('items', 0)} · "
                  + " · ".join(f"{k} {v}" for k, v in sorted(splits.items())))


def _run_build(ws: Workspace, cfg: ProjectConfig, workers: int | None, force: bool,
               quiet: bool) -> None:
    from proda_ray.builder.stage import BuildStage
    from proda_ray.workspace import run_stage

    console.print("[cyan]›[/cyan] build: L1/L2 -> SFT samples, decontaminated against the "
                  "benchmark")
    r = run_stage(ws, BuildStage(cfg.build, workers=workers or cfg.ray.workers), force=force,
                  show_progress=not quiet)
    _report("build", r)
    rep = r.manifest.report
    console.print(f"  samples: {r.manifest.counters.get('samples', 0)} "
                  f"{json.dumps(rep.get('by_type', {}))} · coverage "
                  f"{json.dumps(rep.get('coverage', {}))}")


@app.command()
def bench(
    workspace: WorkspaceOpt,
    set_: SetOpt = None,
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Knowledge Core -> benchmark: items from L3 chains, gated, split into dev and test."""
    ws, cfg = _load(workspace, set_)
    _start_ray(cfg, address)
    _run_bench(ws, cfg, workers, force, quiet)


@app.command()
def build(
    workspace: WorkspaceOpt,
    set_: SetOpt = None,
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Knowledge Core (L1/L2 only) -> SFT samples, decontaminated against the benchmark."""
    ws, cfg = _load(workspace, set_)
    _start_ray(cfg, address)
    _run_build(ws, cfg, workers, force, quiet)


@app.command()
def train(
    workspace: WorkspaceOpt,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", help="SFT dataset to train on (default: train.dataset).")] = None,
    base: Annotated[str | None, typer.Option(
        "--base", help="Base model: HF directory, bundled:gemma-3-270m, or tiny.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="full | lora")] = None,
    round_: Annotated[int, typer.Option(
        "--round", help="Round n > 1 trains sft_v<n> (written by `proda debug --round n-1`) "
        "from the same base.")] = 1,
    arm: Annotated[str | None, typer.Option(
        "--arm", help="blind: a repair round's control dataset sft_v<n>_blind instead.")
    ] = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", help="cpu-tiny | cpu-gemma-270m | gpu-3b-zero2 | gpu-7b-zero3 | "
        "gpu-32b-zero3-offload (then --set/flags override it).")] = None,
    set_: SetOpt = None,
    address: AddressOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """SFT samples -> a fine-tuned model, on Ray Train (DeepSpeed ZeRO-2/3 or DDP).

    Rerunning after a crash resumes from the latest checkpoint; an unchanged, finished run
    is a no-op. The model lands in <workspace>/models/<fingerprint>/model."""
    from proda_ray.compile.config import load_preset
    from proda_ray.compile.stage import TrainStage
    from proda_ray.workspace import run_stage

    ws, cfg = _load(workspace, [])
    try:
        if preset:
            cfg.train = load_preset(preset)
        for flag, value in (("dataset", dataset), ("base", base), ("method", method)):
            if value:
                setattr(cfg.train, flag, value)
        cfg = apply_overrides(cfg, set_ or [])
    except ValueError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2) from None
    _start_ray(cfg, address)
    t = cfg.train
    console.print(f"[cyan]›[/cyan] train: {t.dataset} on {t.base} ({t.method}, {t.strategy}, "
                  f"{t.num_workers} workers{', GPU' if t.use_gpu else ', CPU'})")
    try:
        r = run_stage(ws, TrainStage(t, round=round_, arm=arm), force=force,
                      show_progress=not quiet)
    except (ValueError, FileNotFoundError, NotImplementedError) as e:
        console.print(f"[red]train: {e}[/red]")
        raise typer.Exit(2) from None
    rep = r.manifest.report
    console.print(f"[green]train {r.status}[/green] in {r.seconds:.1f}s · "
                  f"{r.manifest.counters.get('steps', 0)} steps · loss {rep.get('first_loss')}"
                  f" → {rep.get('last_loss')} · val {rep.get('last_val_loss')} · "
                  f"{rep.get('tokens_per_s') or 0:.0f} tokens/s\n  model: {rep.get('model')}")


@app.command()
def export(
    workspace: WorkspaceOpt,
    out: Annotated[str, typer.Option(
        "--out", help="Directory inside the workspace to write to.")] = "exports",
) -> None:
    """SFT data (chat JSONL/Parquet, ShareGPT/Alpaca + dataset_info.json) and the benchmark
    (lm-evaluation-harness task per split, OpenCompass JSON)."""
    if not _export(Workspace(workspace), out):
        raise typer.Exit(2)


def _export(ws: Workspace, out: str = "exports") -> list[str]:
    from proda_ray.exports import export_bench, export_sft

    done = []
    for stage in ("bench", "build"):
        if not ws.exists("stages", stage, "manifest.json"):
            console.print(f"[yellow]{stage} has not run; nothing to export from it[/yellow]")
            continue
        m = ws.read_json(f"stages/{stage}/manifest.json")
        if stage == "bench":
            items = ws.read_parquet(m["outputs"]["bench_items"]["path"]).to_pylist()
            r = export_bench(ws, items, out)
            console.print(f"[green]benchmark[/green] → {r['dir']} "
                          f"(dev {r['splits']['dev']}, test {r['splits']['test']})")
        else:
            samples = ws.read_parquet(m["outputs"]["sft_samples"]["path"]).to_pylist()
            r = export_sft(ws, samples, m["config"]["dataset"], out)
            console.print(f"[green]SFT data[/green] → {r['dir']} ({r['samples']} samples)")
        done.append(stage)
    return done


@app.command()
def extract(
    workspace: WorkspaceOpt,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="local (embedded Gemma 3 270M, CPU) | openai (any OpenAI-compatible "
        "server) | vllm (ray.data.llm on GPU clusters) | transformers (a local HF "
        "checkpoint: --model DIR).")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", help="Extract at most N chunks, spread across disciplines.")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="openai engine: server URL up to /v1.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model: openai/vllm name or path, local GGUF file, transformers "
        "directory.")] = None,
    set_: SetOpt = None,
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Chunks -> Knowledge Core: chains, grounded statements, canonical concepts, kc_index."""
    overrides = list(set_ or [])
    if limit is not None:
        overrides.append(f"extract.limit={limit}")
    if engine:  # a new engine first, then the --set overrides (e.g. extract.engine.x=...)
        data = {"kind": engine}
        if base_url:
            data["base_url"] = base_url
        if model:
            data["model" if engine in ("openai", "vllm") else "model_path"] = model
        ws, cfg = _load(workspace, [])
        try:
            cfg.extract.engine = type(cfg.extract).model_validate(
                {**cfg.extract.model_dump(mode="json"), "engine": data}).engine
            cfg = apply_overrides(cfg, overrides)
        except ValueError as e:
            console.print(f"[red]config error:[/red] {e}")
            raise typer.Exit(2) from None
    else:
        ws, cfg = _load(workspace, overrides)
    _start_ray(cfg, address)
    _run_knowledge(ws, cfg, workers, force, quiet)


kc_app = typer.Typer(help="Browse the Knowledge Core.", no_args_is_help=True)
app.add_typer(kc_app, name="kc")


@kc_app.command("show")
def kc_show(
    node_id: Annotated[str, typer.Argument(help="A chain-, stmt-, concept-, chunk- or doc- id.")],
    workspace: WorkspaceOpt,
) -> None:
    """A node with its neighbourhood (both directions) and its source text."""
    from proda_ray.knowledge.browse import show_node

    try:
        Console().print(show_node(Workspace(workspace), node_id))
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/red]")
        raise typer.Exit(2) from None


@app.command("audit")
def audit_cmd(
    workspace: WorkspaceOpt,
    level: Annotated[str, typer.Option(
        "--level", help="chains | statements | concepts | definitions (concepts from "
        "running text)")] = "chains",
    n: Annotated[int, typer.Option("-n", help="How many nodes.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
) -> None:
    """A seeded sample of knowledge nodes with their sources, for a person to judge."""
    from proda_ray.audit import LEVELS, audit

    if level not in LEVELS:
        console.print(f"[red]--level must be one of {', '.join(LEVELS)}[/red]")
        raise typer.Exit(2)
    try:
        print(audit(Workspace(workspace), level, n, seed))
    except KeyError as e:
        console.print(f"[red]{e.args[0]}[/red]")
        raise typer.Exit(2) from None


@app.command()
def spec(
    workspace: WorkspaceOpt,
    corpus: Annotated[list[str] | None, typer.Option(
        "--corpus", "-c", help="Corpus files, directories or globs (repeatable); "
        "default: spec.corpus from proda.yaml.")] = None,
    chunk_tokens: Annotated[int | None, typer.Option(
        "--chunk-tokens", help="Token budget per chunk (spec.chunk.max_tokens).")] = None,
    overlap_tokens: Annotated[int | None, typer.Option(
        "--overlap-tokens", help="Overlap between chunks (spec.chunk.overlap_tokens).")] = None,
    set_: SetOpt = None,
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Corpus -> clean, deduplicated, discipline-tagged chunks (tables: documents, chunks)."""
    overrides = list(set_ or [])
    if chunk_tokens is not None:
        overrides.append(f"spec.chunk.max_tokens={chunk_tokens}")
    if overlap_tokens is not None:
        overrides.append(f"spec.chunk.overlap_tokens={overlap_tokens}")
    ws, cfg = _load(workspace, overrides, corpus)
    _start_ray(cfg, address)
    _run_spec(ws, cfg, workers, force, quiet)


@app.command()
def run(
    workspace: WorkspaceOpt,
    corpus: Annotated[list[str] | None, typer.Option(
        "--corpus", "-c", help="Corpus paths (default: spec.corpus from proda.yaml).")] = None,
    rounds: Annotated[int | None, typer.Option(
        "--rounds", help="Train/eval rounds with a debug between them (loop.rounds).")] = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", help="Training preset for every round (see `proda train --help`).")] = None,
    set_: SetOpt = None,
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the loop: spec -> extract -> merge -> bench -> build -> (train -> eval -> debug)×n,
    then write the report. Every stage is skipped when up to date; a killed run resumes in
    the stage it was killed in. The report lands in <workspace>/reports/report.md."""
    from proda_ray.loop import run_loop
    from proda_ray.report import write_report

    ws, cfg = _load(workspace, set_, corpus)
    try:
        if preset:
            from proda_ray.compile.config import load_preset

            cfg.train = load_preset(preset)
            cfg = apply_overrides(cfg, set_ or [])  # --set still wins over the preset
        if rounds:
            cfg.loop.rounds = rounds
    except ValueError as e:
        console.print(f"[red]config error:[/red] {e}")
        raise typer.Exit(2) from None
    if not cfg.spec.corpus and "spec" in cfg.loop.stages:
        console.print("[red]no corpus:[/red] pass --corpus PATH or set spec.corpus in proda.yaml")
        raise typer.Exit(2)
    if not ws.exists("proda.yaml"):
        ws.makedirs()
        cfg.save(ws)
    _start_ray(cfg, address)
    t0 = time.perf_counter()
    try:
        run_loop(ws, cfg, workers=workers or cfg.ray.workers, show_progress=not quiet,
                 on_stage=_loop_line)
    except (RuntimeError, ValueError, NotImplementedError, FileNotFoundError) as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    _export(ws)
    if "eval" in cfg.loop.stages:
        paths = write_report(ws)
        console.print(f"[green]report[/green] → {paths['report.md']}")
    console.print(f"[bold green]loop done[/bold green] in {time.perf_counter() - t0:.1f}s · "
                  f"`proda status --workspace {workspace}` for details")


def _prior_text(o: dict) -> str:
    """", prior 27.0% [19, 36]": the answer-pattern prior beside an accuracy."""
    p = o.get("prior")
    if not p:
        return ""
    return (f"; prior {100 * p['accuracy']:.1f}% [{100 * p['ci'][0]:.0f}, "
            f"{100 * p['ci'][1]:.0f}]")


def _loop_line(name: str, r) -> None:
    """One line per stage of the loop (and the numbers that matter for eval/debug/train)."""
    _report(name, r)
    rep = r.manifest.report
    if name.startswith("eval"):
        for split, o in sorted(rep.get("overall", {}).items()):
            console.print(f"  {split}: accuracy {100 * o['accuracy']:.1f}% "
                          f"[{100 * o['ci'][0]:.1f}, {100 * o['ci'][1]:.1f}] (n={o['items']}, "
                          f"unparsed {o['unparsed']}){_prior_text(o)}")
        for split, c in sorted((rep.get("vs_previous") or {}).items()):
            console.print(f"  {split} vs previous round: {100 * c['diff']:+.1f} points "
                          f"[{100 * c['diff_ci'][0]:+.1f}, {100 * c['diff_ci'][1]:+.1f}] · "
                          f"fixed {len(c['fixed'])} · broken {len(c['broken'])}")
    elif name.startswith("debug"):
        console.print(f"  {rep.get('failed')} failed dev items {rep.get('labels')} → "
                      f"{rep.get('dataset')}: {sum((rep.get('patches_by_task') or {}).values())}"
                      f" patches + {rep.get('replay')} replay")
    elif name.startswith("train"):
        console.print(f"  loss {rep.get('first_loss')} → {rep.get('last_loss')} · "
                      f"model {rep.get('model')}")


@app.command(name="eval")
def eval_(
    workspace: WorkspaceOpt,
    round_: Annotated[int, typer.Option("--round", help="Whose trained model.")] = 1,
    arm: Annotated[str | None, typer.Option(
        "--arm", help="blind: the round's control model (compared with the targeted one).")
    ] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="trained | base | a model directory/URI | engine "
        "(eval.model).")] = None,
    label: Annotated[str | None, typer.Option(
        "--label", help="Name a reference evaluation (eval.<label>) instead of a round's.")
    ] = None,
    set_: SetOpt = None,
    address: AddressOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Answer every benchmark item with a model: accuracy with bootstrap intervals per split,
    discipline, question type, knowledge level and node; round n vs n-1 item by item."""
    from proda_ray.evaluate.stage import EvalStage

    ws, cfg = _load(workspace, set_)
    ec = cfg.eval.model_copy(update={"model": model}) if model else cfg.eval
    if ec.model != "trained" and not label:
        if ec.model != "base":
            console.print("[red]a model other than the round's trained one needs --label NAME "
                          "(its results go to eval.NAME)[/red]")
            raise typer.Exit(2)
        label = "base"
    try:
        stage = EvalStage(ec, round=round_, label=label, arm=arm)
    except ValueError as e:
        console.print(f"[red]eval: {e}[/red]")
        raise typer.Exit(2) from None
    _start_ray(cfg, address)
    _run_one(ws, stage, "eval", force, quiet, (RuntimeError, ValueError, KeyError))


@app.command()
def debug(
    workspace: WorkspaceOpt,
    round_: Annotated[int, typer.Option("--round", help="The round whose dev failures to "
                                        "repair (writes sft_v<round+1>).")] = 1,
    set_: SetOpt = None,
    address: AddressOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """dev failures -> knowledge nodes -> concept gap / chain break (probed) -> grounded
    patches + replay -> the next dataset version. Never reads the test split."""
    from proda_ray.debugger.stage import DebugStage

    ws, cfg = _load(workspace, set_)
    _start_ray(cfg, address)
    _run_one(ws, DebugStage(cfg.debug, round=round_), "debug", force, quiet,
             (RuntimeError, ValueError))


def _run_one(ws: Workspace, stage, what: str, force: bool, quiet: bool,
             errors: tuple[type[Exception], ...]) -> None:
    """Run one stage for a command: its expected errors are a red line and exit code 2."""
    from proda_ray.workspace import run_stage

    try:
        r = run_stage(ws, stage, force=force, show_progress=not quiet)
    except errors as e:
        console.print(f"[red]{what}: {e}[/red]")
        raise typer.Exit(2) from None
    _loop_line(r.manifest.stage, r)


@app.command()
def report(
    workspace: WorkspaceOpt,
    out: Annotated[str, typer.Option("--out", help="Directory inside the workspace.")
                   ] = "reports",
) -> None:
    """(Re)write the loop report (Markdown, JSON, PNG plots) from the committed stages."""
    from proda_ray.report import write_report

    paths = write_report(Workspace(workspace), out)
    console.print(f"[green]report[/green] → {paths['report.md']}")


@app.command()
def status(
    workspace: WorkspaceOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stages, fingerprints, freshness, tables (paths, rows), rejections by reason, dedup."""
    from proda_ray.workspace import stage_status

    ws = Workspace(workspace)
    if not ws.exists():
        console.print(f"[red]no workspace at {ws.uri}[/red]")
        raise typer.Exit(2)
    st = stage_status(ws)
    if as_json:
        json.dump({"workspace": ws.uri, "stages": st}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    _print_status(ws, st)


def _print_status(ws: Workspace, st: dict) -> None:
    out = Console()
    if not st:
        out.print(f"{ws.uri}: no stage has run yet (try `proda run --workspace {ws.uri}`)")
        return
    stages = Table(title=f"proda status · {ws.uri}", title_justify="left")
    for col in ("stage", "state", "fingerprint", "finished", "time (s)"):
        stages.add_column(col)
    tables = Table(title="tables", title_justify="left")
    for col in ("table", "rows", "files", "path"):
        tables.add_column(col, overflow="fold")
    rejects = Table(title="rejected rows by reason", title_justify="left")
    for col in ("table", "reason", "rows"):
        rejects.add_column(col)
    for name, s in st.items():
        state = "[green]fresh[/green]" if s["state"] == "fresh" else "[yellow]stale[/yellow]"
        stages.add_row(name, state, s["fingerprint"], s["finished_at"],
                       f"{sum(s['timings_s'].values()):.1f}")
        for t, info in s["tables"].items():
            tables.add_row(t, str(info["rows"]), str(info["files"]), info["path"])
        for t, reasons in s["rejected"].items():
            for reason, n in reasons.items():
                rejects.add_row(t, reason, str(n))
    out.print(stages)
    out.print(tables)
    out.print(rejects)
    for name, s in st.items():
        dedup = s["report"].get("dedup")
        if dedup:
            out.print(f"[bold]{name} dedup[/bold]: " + json.dumps(dedup))
        disc = s["report"].get("disciplines")
        if disc:
            out.print(f"[bold]{name} chunks by discipline[/bold]: " + json.dumps(disc))
        rep = s["report"]
        if name.startswith("eval"):  # the accuracy lines; the full tables are in the report
            for split, o in sorted(rep.get("overall", {}).items()):
                out.print(f"[bold]{name} {split}[/bold]: accuracy {100 * o['accuracy']:.1f}% "
                          f"[{100 * o['ci'][0]:.1f}, {100 * o['ci'][1]:.1f}] (n={o['items']})"
                          f"{_prior_text(o)}")
            continue
        if name.startswith(("train", "debug")):
            keys = ("last_loss", "last_val_loss", "tokens_per_s", "model") \
                if name.startswith("train") else ("failed", "labels", "patches_by_task",
                                                  "replay", "dataset")
            out.print(f"[bold]{name}[/bold]: " + json.dumps({k: rep.get(k) for k in keys},
                                                             default=str))
            continue
        for key in ("grounding", "graph", "splits", "by_type", "by_discipline", "coverage",
                    "decontamination"):
            if rep.get(key):
                out.print(f"[bold]{name} {key}[/bold]: " + json.dumps(rep[key]))
        if rep.get("validity"):
            out.print(_validity_table(name, rep["validity"]))
        if s["usage"]["calls"] or s["usage"]["cached_calls"]:
            out.print(f"[bold]{name} LLM usage[/bold]: " + json.dumps(s["usage"]))


def _validity_table(stage: str, v: dict) -> Table:
    """The validity suite per question type: the answer-pattern prior and the best
    form-only solver, with 95% intervals (the whole table is in the manifest)."""
    t = Table(title=f"{stage} validity (mode {v['mode']}: a type whose best form-only solver "
              f"beats the prior by > {100 * v['margin']:.0f} points is form-solvable)",
              title_justify="left")
    for col in ("type", "n", "prior", "best solver", "accuracy", "best − prior",
                "form-solvable", "items certain"):
        t.add_column(col)
    for qtype, r in v["types"].items():
        b = r["solvers"][r["best_solver"]]
        t.add_row(qtype, str(r["n"]),
                  f"{100 * r['prior']['accuracy']:.1f}% [{100 * r['prior']['ci95'][0]:.0f}, "
                  f"{100 * r['prior']['ci95'][1]:.0f}]", r["best_solver"],
                  f"{100 * b['accuracy']:.1f}% [{100 * b['ci95'][0]:.0f}, "
                  f"{100 * b['ci95'][1]:.0f}]", f"{100 * r['best_minus_prior']:+.1f}",
                  "[red]yes[/red]" if r["form_solvable"] else "no",
                  str(v["form_solvable_items"].get(qtype, 0)))
    return t


if __name__ == "__main__":
    app()
