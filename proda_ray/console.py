"""What the CLI prints: a stage run's lines, the status tables, the validity table.

Presentation only: it reads manifests and reports, never runs anything.
"""

from __future__ import annotations

import json
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from proda_ray.workspace import Workspace

console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """An expected error: one red line, exit code 2 (never a traceback)."""
    import typer

    console.print(f"[red]{message}[/red]")
    raise typer.Exit(2)


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
    cost = (f" · LLM {u.calls} calls ({u.cached_calls} cached), "
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
        console.print(f"  {m.counters.get('steps', 0)} steps · loss {rep.get('first_loss')} → "
                      f"{rep.get('last_loss')} · val {rep.get('last_val_loss')} · "
                      f"{rep.get('tokens_per_s') or 0:.0f} tokens/s · model {rep.get('model')}")


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
