"""What the CLI prints: a stage run's lines, the status tables, the validity table.

Presentation only: it reads manifests and reports, never runs anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from proda_ray.workspace import Workspace

console = Console(stderr=True, soft_wrap=True)  # a long line stays one line in a log


_LOG: list[str | None] = [None]  # the file Ray's output goes to, while it does
LAST_LOG: list[str | None] = [None]  # the last such file (named by an unexpected error)


def fail(message: str) -> NoReturn:
    """An expected error: one red line, exit code 2 (never a traceback)."""
    import typer

    log = f" (log: {_LOG[0]})" if _LOG[0] else ""
    console.print(f"[red]{message}[/red]{log}", highlight=False)
    raise typer.Exit(2)


def log_path(ws: Workspace, command: str) -> Path:
    """Where a command's Ray output goes: ``<workspace>/logs/`` for a local workspace, the
    local cache for an object-store one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if ws.is_local:
        root = Path(ws.path("logs"))
    else:
        import hashlib

        from proda_ray.engines.models import cache_dir

        root = cache_dir() / "logs" / hashlib.sha256(ws.uri.encode()).hexdigest()[:12]
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{command}-{stamp}-{os.getpid()}.log"


@contextlib.contextmanager
def ray_output_to(path: Path | None):
    """Send everything written to this process's stderr descriptor — Ray Data's INFO lines,
    Ray's C++ log lines, warnings — to ``path``, while this console keeps the terminal.
    ``None``: change nothing (``--verbose``/``--debug`` want it all on the terminal)."""
    if path is None:
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8",
                         errors="replace")
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    console.file, _LOG[0], LAST_LOG[0] = terminal, str(path), str(path)
    try:
        yield
    except Exception as e:  # not a user error (fail's Exit): its traceback is kept in the log
        import traceback

        from click.exceptions import Exit

        if not isinstance(e, Exit):
            traceback.print_exc()
        raise
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        console.file, _LOG[0] = None, None  # back to sys.stderr
        terminal.close()


def spinner(text: str):
    """A transient spinner line on the console that, unlike ``Console.status``, leaves
    ``sys.stdout``/``sys.stderr`` alone: Ray's log handler writes to ``sys.stderr`` at emit
    time, and rich's redirect would put its INFO lines on the terminal."""
    from rich.live import Live
    from rich.spinner import Spinner

    class _Spin(Live):
        def update(self, text: str) -> None:  # type: ignore[override]
            super().update(Spinner("dots", text=text))

    return _Spin(Spinner("dots", text=text), console=console, transient=True,
                 redirect_stdout=False, redirect_stderr=False, refresh_per_second=8)


class LiveLine:
    """One progress line per stage: phase, units done/total, LLM calls, tokens/s, ETA.

    On a terminal it is redrawn in place and disappears when the stage's summary is printed;
    in a log (not a terminal) it is printed at most every ``every_s`` seconds, so a long
    stage shows it is alive without flooding the log; ``quiet``: nothing."""

    def __init__(self, quiet: bool = False, every_s: float = 120.0):
        self.quiet, self.every_s = quiet, every_s
        self.status = None
        self.stage = ""
        self.guard = None  # called before a stage commits (the lease's check)
        self.last_print = 0.0
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self, stage: str) -> None:
        self.stop()
        self.stage, self.t0, self.phase_t0 = stage, time.monotonic(), time.monotonic()
        self.what, self.done, self.total, self.calls, self.tokens = "", 0, 0, 0, 0
        self.last_print = time.monotonic()
        if self.quiet:
            return
        if console.is_terminal:
            self.status = spinner(self.text())
            self.status.start()
        # a stage without units to report (training) still shows it is alive
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="proda-progress", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._redraw()

    def update(self, what: str, done: int, total: int, usage: dict) -> None:
        with self._lock:
            if what != self.what:
                self.what, self.phase_t0 = what, time.monotonic()
            self.done, self.total = done, total
            self.calls += int(usage.get("calls", 0))
            self.tokens += int(usage.get("tokens", 0))
        self._redraw()

    def _redraw(self) -> None:
        if self.quiet:
            return
        with self._lock:
            if self.status is not None:
                self.status.update(self.text())
            elif time.monotonic() - self.last_print >= self.every_s:
                console.print(f"  … {self.text()}", highlight=False)
                self.last_print = time.monotonic()

    def text(self) -> str:
        now = time.monotonic()
        parts = [f"{self.stage}: {self.what or 'starting'}"]
        if self.total:
            parts.append(f"{self.done}/{self.total} units")
        if self.calls:
            parts.append(f"{self.calls} LLM calls")
        if self.tokens:
            parts.append(f"{self.tokens / max(now - self.t0, 1e-9):.0f} tokens/s")
        if self.total and 0 < self.done < self.total:
            eta = (now - self.phase_t0) / self.done * (self.total - self.done)
            parts.append(f"ETA {_duration(eta)}")
        parts.append(_duration(now - self.t0))
        return " · ".join(parts)

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
        with self._lock:
            if self.status is not None:
                self.status.stop()
                self.status = None


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else \
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def prior_text(o: dict) -> str:
    """", prior 27.0% [19, 36]": the answer-pattern prior beside an accuracy."""
    p = o.get("prior")
    if not p:
        return ""
    return (f"; prior {100 * p['accuracy']:.1f}% [{100 * p['ci'][0]:.0f}, "
            f"{100 * p['ci'][1]:.0f}]")


def intro(stage) -> str:
    """What a stage is about to use, after its one-line description."""
    c, kind = stage.config, stage.name.split(".")[0]
    if kind == "extract":
        return f" (engine: {c.engine.kind})"
    if kind in ("bench", "build"):
        return f" (generators: {', '.join(c.generators)})"
    if kind == "train":
        return (f" ({stage.dataset} on {c.base}: {c.method}, {c.strategy}, {c.num_workers} "
                f"workers, {'GPU' if c.use_gpu else 'CPU'})")
    return ""


def stage_lines(name: str, r) -> None:
    """What a command prints for a stage run: a headline (built / up to date / restored,
    time, the counts, rejections, LLM cost), then the numbers that matter for its kind."""
    m = r.manifest
    verb = {"built": "built", "up-to-date": "up to date", "restored": "restored"}[r.status]
    shown = ", ".join(f"{m.counters[k]} {k}" for k in ("documents", "chunks", "chains",
                                                       "statements", "concepts", "items",
                                                       "samples") if k in m.counters)
    u = m.usage
    ru = m.run_usage
    this_run = (f", {ru.calls} of them by this run" if r.status == "built"
                and ru.calls != u.calls else "")
    cost = (f" · LLM {u.calls} calls ({u.cached_calls} cached{this_run}), "
            f"{u.prompt_tokens + u.completion_tokens} tokens") if u.calls + u.cached_calls else ""
    console.print(f"[green]{name} {verb}[/green] in {r.seconds:.1f}s · {shown or 'done'}"
                  f" · {m.rejected_total()} rejected{cost} · fingerprint {m.fingerprint}")
    rep, kind = m.report, name.split(".")[0]
    if kind == "bench":
        console.print(f"  items: {m.counters.get('items', 0)} · "
                      + " · ".join(f"{k} {v}" for k, v in sorted(rep.get("splits", {}).items())))
    elif kind == "build":
        console.print(f"  samples: {m.counters.get('samples', 0)} "
                      f"{json.dumps(rep.get('by_type', {}))} · coverage "
                      f"{json.dumps(rep.get('coverage', {}))}")
    elif kind == "eval":
        for split, o in sorted(rep.get("overall", {}).items()):
            console.print(f"  {split}: accuracy {100 * o['accuracy']:.1f}% "
                          f"[{100 * o['ci'][0]:.1f}, {100 * o['ci'][1]:.1f}] (n={o['items']}, "
                          f"unparsed {o['unparsed']}){prior_text(o)}")
        for split, c in sorted((rep.get("vs_previous") or {}).items()):
            console.print(f"  {split} vs previous round: {100 * c['diff']:+.1f} points "
                          f"[{100 * c['diff_ci'][0]:+.1f}, {100 * c['diff_ci'][1]:+.1f}] · "
                          f"fixed {len(c['fixed'])} · broken {len(c['broken'])}")
    elif kind == "debug":
        console.print(f"  {rep.get('failed')} failed dev items {rep.get('labels')} → "
                      f"{rep.get('dataset')}: {sum((rep.get('patches_by_task') or {}).values())}"
                      f" patches + {rep.get('replay')} replay")
    elif kind == "train":
        console.print(f"  {m.counters.get('steps', 0)} steps · loss {_num(rep.get('first_loss'))}"
                      f" → {_num(rep.get('last_loss'))} · val {_num(rep.get('last_val_loss'))} · "
                      f"{rep.get('tokens_per_s') or 0:.0f} tokens/s · model {rep.get('model')}")


def _num(x) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def print_status(ws: Workspace, st: dict) -> None:
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
                          f"{prior_text(o)}")
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
            out.print(validity_table(name, rep["validity"]))
        if s["usage"]["calls"] or s["usage"]["cached_calls"]:
            out.print(f"[bold]{name} LLM usage[/bold]: " + json.dumps(s["usage"]))


def validity_table(stage: str, v: dict) -> Table:
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
