"""The ``proda`` commands for a Ray cluster's job server: submit, jobs, logs, cancel.

``proda submit --address http://HEAD:8265 -- run -w s3://… --rounds 2`` sends any proda
command as a Ray job. The job carries this project (its source tree as the job's
``working_dir``) unless ``--no-project`` says the cluster's own install should run; the
workspace, on storage every node reaches, is where its results land, so ``proda status -w``
reads them from anywhere while the job runs. Logs and cancellation go through Ray's job API.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from proda_ray.cli_options import Opt
from proda_ray.console import console, fail

app = typer.Typer()

JobAddressOpt = Annotated[str | None, Opt(
    "--address", help="The cluster's job server, http://HEAD:8265 (default: "
    "$RAY_API_SERVER_ADDRESS, or $RAY_ADDRESS when it is an http:// address).")]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
# what never travels with the project: environments, builds, workspaces (Ray leaves out
# .git and .venv itself)
EXCLUDES = [".venv-*", "**/node_modules", "workspaces", "**/__pycache__",
            "proda_ray/studio/static", "*.egg-info", ".pytest_cache", ".ruff_cache"]


def job_address(address: str | None) -> str:
    address = (address or os.environ.get("RAY_API_SERVER_ADDRESS")
               or os.environ.get("RAY_ADDRESS") or "")
    if not address.startswith(("http://", "https://")):
        fail("no job server: pass --address http://HEAD:8265 (the cluster's dashboard port; "
             "`ray dashboard cluster/aws.yaml` forwards it to localhost)")
    return address


def _client(address: str | None):
    from ray.job_submission import JobSubmissionClient

    addr = job_address(address)
    try:
        return JobSubmissionClient(addr)
    except Exception as e:  # refused, timed out, not a job server
        fail(f"cannot reach the job server at {addr}: {str(e).splitlines()[0][:200]}")


def project_root() -> Path | None:
    """This project's source tree (a checkout), or None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "proda_ray").is_dir() else None


def _status(client, job_id: str) -> str:
    return str(client.get_job_status(job_id)).split(".")[-1]


def _follow(client, job_id: str) -> str:
    """Print the job's log as it grows until the job ends; its final status."""
    shown = 0
    while True:
        status = _status(client, job_id)
        logs = client.get_job_logs(job_id)
        if len(logs) > shown:
            sys.stdout.write(logs[shown:])
            sys.stdout.flush()
            shown = len(logs)
        if status in TERMINAL:
            return status
        time.sleep(2)


def _finish(client, job_id: str, address: str | None) -> None:
    try:
        status = _follow(client, job_id)
    except KeyboardInterrupt:
        console.print(f"\n[yellow]stopped following; job {job_id} keeps running[/yellow] "
                      f"(proda logs {job_id} --follow · proda cancel {job_id})")
        raise typer.Exit(130) from None
    info = client.get_job_info(job_id)
    if status == "SUCCEEDED":
        console.print(f"[green]job {job_id} succeeded[/green]")
        return
    console.print(f"[red]job {job_id} {status.lower()}[/red]"
                  + (f": {info.message.splitlines()[-1][:300]}" if info.message else ""))
    raise typer.Exit(1)


@app.command(context_settings={"help_option_names": ["--help"]})
def submit(
    command: Annotated[list[str], typer.Argument(
        help="The proda command to run as a job, after `--`: run -w s3://… --rounds 2.")],
    address: JobAddressOpt = None,
    no_project: Annotated[bool, Opt(
        "--no-project", help="Run the cluster's installed proda-ray instead of shipping "
        "this source tree with the job.")] = False,
    env: Annotated[list[str] | None, Opt(
        "--env", help="KEY=VALUE for the job's environment (repeatable).")] = None,
    submission_id: Annotated[str | None, Opt(
        "--submission-id", help="The job's id (default: Ray picks one).")] = None,
    wait: Annotated[bool, Opt(
        "--wait/--no-wait", help="Follow the log until the job ends (exit 1 if it fails).")]
    = True,
) -> None:
    """Submit a proda command to a Ray cluster as a job (Ray's job API)."""
    if not command:
        fail("nothing to submit: proda submit --address http://HEAD:8265 -- run -w …")
    if command[0] in ("proda", "submit"):
        command = command[1:] if command[0] == "proda" else command
        if command and command[0] == "submit":
            fail("proda submit cannot submit itself")
    client = _client(address)
    runtime_env: dict = {"env_vars": {"COLUMNS": "4000"}}  # unwrapped log lines
    for kv in env or []:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            fail(f"--env wants KEY=VALUE, got {kv!r}")
        runtime_env["env_vars"][key] = value
    root = None if no_project else project_root()
    if root is not None:  # the job imports this tree (cwd first on sys.path)
        runtime_env.update(working_dir=str(root), excludes=EXCLUDES)
        entry = ["python", "-m", "proda_ray.cli", *command]
    else:
        entry = ["proda", *command]
    logging.getLogger("ray").setLevel(logging.ERROR)  # packaging chatter, one line per file
    try:
        job_id = client.submit_job(entrypoint=shlex.join(entry), runtime_env=runtime_env,
                                   submission_id=submission_id)
    except Exception as e:
        fail(f"submit failed: {str(e).splitlines()[0][:300]}")
    where = f"{root} shipped as working_dir" if root else "the cluster's install"
    console.print(f"[cyan]›[/cyan] job [bold]{job_id}[/bold] submitted: proda "
                  f"{shlex.join(command)}  ({where})")
    if wait:
        _finish(client, job_id, address)
    else:
        console.print(f"  proda logs {job_id} --follow · proda cancel {job_id}")


@app.command()
def jobs(address: JobAddressOpt = None) -> None:
    """The cluster's jobs: id, status, start, entrypoint."""
    from datetime import UTC, datetime

    from rich.table import Table

    client = _client(address)
    table = Table(title=f"jobs · {job_address(address)}", title_justify="left")
    for col in ("id", "status", "started", "entrypoint"):
        table.add_column(col, overflow="fold")
    for j in sorted(client.list_jobs(), key=lambda j: j.start_time or 0, reverse=True):
        started = (datetime.fromtimestamp(j.start_time / 1000, UTC).isoformat(timespec="seconds")
                   if j.start_time else "")
        table.add_row(j.submission_id or j.job_id or "", str(j.status).split(".")[-1],
                      started, j.entrypoint)
    console.print(table)


@app.command()
def logs(
    job_id: Annotated[str, typer.Argument(help="The job's submission id.")],
    address: JobAddressOpt = None,
    follow: Annotated[bool, Opt("--follow", "-f", help="Keep printing until it ends.")] = False,
) -> None:
    """A job's log (Ray's job API)."""
    client = _client(address)
    try:
        if follow:
            _finish(client, job_id, address)
        else:
            sys.stdout.write(client.get_job_logs(job_id))
    except RuntimeError as e:  # the job server's "no such job"
        fail(f"job {job_id}: {str(e).splitlines()[0][:200]}")


@app.command()
def cancel(
    job_id: Annotated[str, typer.Argument(help="The job's submission id.")],
    address: JobAddressOpt = None,
) -> None:
    """Stop a running job; its stage resumes from its done markers on the next run."""
    client = _client(address)
    try:
        client.stop_job(job_id)
        deadline = time.monotonic() + 60
        while (status := _status(client, job_id)) not in TERMINAL:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
    except RuntimeError as e:
        fail(f"job {job_id}: {str(e).splitlines()[0][:200]}")
    if status not in TERMINAL:
        fail(f"job {job_id} is still {status.lower()} after 60 s")
    console.print(f"job {job_id}: {status.lower()}")
