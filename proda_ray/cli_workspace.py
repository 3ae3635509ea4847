"""The ``proda`` commands over a workspace: create it, inspect it, export and report it.

They run no stage (``cli.py`` has those); every one reads the committed manifests and tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from proda_ray.cli_options import CorpusOpt, Opt, WorkspaceOpt
from proda_ray.console import console, fail, print_status
from proda_ray.workspace import Workspace

app = typer.Typer()


def open_workspace(uri: str, *, must_exist: bool = False) -> Workspace:
    """The workspace at ``uri``, or one line and exit 2 when it cannot be one: a path that is
    a file, or (``must_exist``) nothing at all."""
    ws = Workspace(uri)
    if ws.is_local and Path(ws.path()).exists() and not Path(ws.path()).is_dir():
        fail(f"{ws.uri} is a file, not a workspace directory; pass a directory to --workspace")
    if must_exist and not ws.exists():
        fail(f"no workspace at {ws.uri} (create one with `proda init {uri}`)")
    return ws


@app.command()
def init(
    workspace: Annotated[str, typer.Argument(help="Directory or URI for the new project.")],
    corpus: CorpusOpt = None,
    name: Annotated[str | None, Opt(help="Project name.")] = None,
) -> None:
    """Create a workspace with a default proda.yaml (existing config is kept and updated)."""
    from proda_ray.config import ProjectConfig

    ws = open_workspace(workspace)
    try:
        cfg = ProjectConfig.load(ws)
    except ValueError as e:
        fail(f"config error: {e}")
    if corpus:
        cfg.spec.corpus = [p if "://" in p else str(Path(p).expanduser().absolute())
                           for p in corpus]
    cfg.name = name or cfg.name
    ws.makedirs()
    cfg.save(ws)
    console.print(f"[green]workspace ready[/green] {ws.uri}  (config: proda.yaml)")
    if not cfg.spec.corpus:
        console.print("next: set spec.corpus in proda.yaml, or pass --corpus to `proda spec`")


@app.command()
def export(workspace: WorkspaceOpt, out: Annotated[str, Opt(
        "--out", help="Directory inside the workspace to write to.")] = "exports") -> None:
    """SFT data (chat JSONL/Parquet, ShareGPT/Alpaca + dataset_info.json) and the benchmark
    (lm-evaluation-harness task per split, OpenCompass JSON)."""
    from proda_ray.exports import export_workspace

    done, lines = export_workspace(open_workspace(workspace, must_exist=True), out)
    for line in lines:
        console.print(line)
    if not done:
        raise typer.Exit(2)


@app.command()
def report(workspace: WorkspaceOpt, out: Annotated[str, Opt(
        "--out", help="Directory inside the workspace.")] = "reports") -> None:
    """(Re)write the loop report (Markdown, JSON, PNG plots) from the committed stages."""
    from proda_ray.report import write_report

    ws = open_workspace(workspace, must_exist=True)
    console.print(f"[green]report[/green] → {write_report(ws, out)['report.md']}")


@app.command()
def status(workspace: WorkspaceOpt, as_json: Annotated[bool, Opt(
        "--json", help="Machine-readable output.")] = False) -> None:
    """Stages, fingerprints, freshness, tables (paths, rows), rejections by reason, dedup."""
    from proda_ray.workspace import stage_status

    ws = open_workspace(workspace, must_exist=True)
    if as_json:
        json.dump({"workspace": ws.uri, "stages": stage_status(ws)}, sys.stdout, indent=2,
                  default=str)
        sys.stdout.write("\n")
    else:
        print_status(ws, stage_status(ws))


kc_app = typer.Typer(help="Browse the Knowledge Core.", no_args_is_help=True)
app.add_typer(kc_app, name="kc")


@kc_app.command("show")
def kc_show(node_id: Annotated[str, typer.Argument(
        help="A chain-, stmt-, concept-, chunk- or doc- id.")], workspace: WorkspaceOpt) -> None:
    """A node with its neighbourhood (both directions) and its source text."""
    from rich.console import Console

    from proda_ray.knowledge.browse import show_node

    try:
        Console().print(show_node(open_workspace(workspace, must_exist=True), node_id))
    except KeyError as e:
        fail(e.args[0])


@app.command("audit")
def audit_cmd(
    workspace: WorkspaceOpt,
    level: Annotated[str, Opt("--level", help="chains | statements | concepts | definitions "
                                              "(concepts from running text)")] = "chains",
    n: Annotated[int, Opt("-n", help="How many nodes.")] = 20,
    seed: Annotated[int, Opt("--seed", help="Sampling seed.")] = 0,
) -> None:
    """A seeded sample of knowledge nodes with their sources, for a person to judge."""
    from proda_ray.audit import LEVELS, audit

    if level not in LEVELS:
        fail(f"--level must be one of {', '.join(LEVELS)}")
    try:
        print(audit(open_workspace(workspace, must_exist=True), level, n, seed))
    except KeyError as e:
        fail(e.args[0])


@app.command()
def studio(
    workspace: WorkspaceOpt,
    host: Annotated[str, Opt("--host", help="Interface to bind (loopback by default).")] =
        "127.0.0.1",
    port: Annotated[int, Opt("--port", help="Port.")] = 8765,
    token: Annotated[str | None, Opt(
        "--token", envvar="PRODA_STUDIO_TOKEN",
        help="The token every request must carry (default: a random one, in the URL "
             "printed at start).")] = None,
    no_token: Annotated[bool, Opt(
        "--no-token", help="No token (loopback only): anyone on this machine can use it.")]
        = False,
    ray_address: Annotated[str | None, Opt(
        "--ray-address", help="Submit jobs to this Ray cluster's job server "
                              "(http://HEAD:8265) instead of running them here.")] = None,
) -> None:
    """The Studio: a web app over the workspace (stages, corpus, knowledge, benchmark,
    training data, training, evaluation, diagnosis, runs)."""
    from proda_ray.studio.server import serve

    ws = open_workspace(workspace, must_exist=True)
    import secrets

    token = None if no_token else (token or secrets.token_urlsafe(24))
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    console.print(f"[green]proda Studio[/green] on {ws.uri}: open http://{shown}:{port}/"
                  + (f"?token={token}" if token else ""), soft_wrap=True)
    try:
        serve(ws.uri, host=host, port=port, token=token, ray_address=ray_address)
    except (ValueError, FileNotFoundError, OSError) as e:
        fail(str(e))
