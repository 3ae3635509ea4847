"""The loop report: Markdown + JSON + PNG plots from the workspace's committed stages.

* accuracy per round on ``test`` (the held-out split: the only numbers reported as gains),
  overall and per discipline, with bootstrap intervals, next to the untrained base;
* round n+1 vs round n item by item (fixed / broken / still failing) with the paired
  interval of the change;
* training and validation loss per round;
* the weakest nodes the debugger found on ``dev``, with their dev accuracy before and after;
* time and LLM tokens per stage.

Everything is read from manifests and tables, so the report can be rebuilt at any time
(``proda report``) and says only what the runs measured.
"""

from __future__ import annotations

import io
import json
import posixpath
import re

from proda_ray.contracts import DebugReport, EvalReport
from proda_ray.rounds import rname
from proda_ray.workspace.runner import committed_manifests
from proda_ray.workspace.storage import Workspace


def _rounds(names: list[str], base: str) -> list[int]:
    out = []
    for n in names:
        if n == base:
            out.append(1)
        elif m := re.fullmatch(rf"{re.escape(base)}\.r(\d+)", n):
            out.append(int(m.group(1)))
    return sorted(out)


def _counts(c: dict) -> dict:
    """A comparison with its fixed/broken item lists as counts."""
    return {k: (len(v) if isinstance(v, list) and k in ("fixed", "broken") else v)
            for k, v in c.items()}


def _typed(m, model) -> dict:
    """A stage's report, validated against its contract (a drifted field fails here, not as
    a silently empty table), back as JSON-ready data."""
    return m.typed_report(model).model_dump(mode="json")


def collect(ws: Workspace) -> dict:
    """The report's data (also written as ``report.json``)."""
    ms = committed_manifests(ws)
    rounds = _rounds(list(ms), "eval")
    data: dict = {"workspace": ws.uri, "rounds": [], "reference": None, "comparisons": [],
                  "loss": {}, "weakest_nodes": [], "cost": []}
    for r in rounds:
        rep = _typed(ms[rname("eval", r)], EvalReport)
        data["rounds"].append({"round": r, "model": rep.get("model"),
                               "overall": rep.get("overall", {}),
                               "by_discipline": rep.get("by_discipline", {}),
                               "by_level": rep.get("by_level", {}),
                               "parse_status": rep.get("parse_status", {})})
        if rep.get("vs_previous"):
            data["comparisons"].append({"from": r - 1, "to": r, **{
                s: {k: (len(v) if isinstance(v, list) and k in ("fixed", "broken") else v)
                    for k, v in c.items()} for s, c in rep["vs_previous"].items()}})
    data["control"] = []
    for r in rounds:
        name = rname("eval", r, "blind") if r > 1 else None
        if name and name in ms:
            rep = _typed(ms[name], EvalReport)
            data["control"].append({
                "round": r, "overall": rep.get("overall", {}),
                "vs_targeted": {s: _counts(c) for s, c in (rep.get("vs_targeted") or {}).items()},
                "vs_previous": {s: _counts(c) for s, c in (rep.get("vs_previous") or {}).items()}})
    if "eval.base" in ms:
        rep = _typed(ms["eval.base"], EvalReport)
        data["reference"] = {"model": rep.get("model"), "overall": rep.get("overall", {}),
                             "by_discipline": rep.get("by_discipline", {})}
    for r in _rounds(list(ms), "train"):
        m = ms[rname("train", r)]
        table = rname("train_metrics", r)
        if table in m.outputs:
            rows = ws.read_parquet(m.outputs[table].path).to_pylist()
            data["loss"][r] = [{"step": x["step"], "loss": x["loss"], "val_loss": x["val_loss"]}
                               for x in rows]
    texts = _node_texts(ws, ms) if "debug" in ms else {}
    for r in _rounds(list(ms), "debug"):
        d = _typed(ms[rname("debug", r)], DebugReport)
        before = _node_acc(ws, ms, r)
        after = _node_acc(ws, ms, r + 1)
        for n in d.get("weakest_nodes", [])[:10]:
            key = (n["node_kind"], n["node_id"])
            data["weakest_nodes"].append({
                "round": r, **n, "text": texts.get(n["node_id"], ""),
                "dev_accuracy_before": before.get(key), "dev_accuracy_after": after.get(key)})
        data.setdefault("debug", []).append({k: d.get(k) for k in (
            "round", "dataset", "failed", "labels", "patches_by_task", "replay",
            "decontamination_dropped", "probe_accuracy")})
    for name, m in ms.items():
        data["cost"].append({"stage": name, "seconds": round(sum(m.timings_s.values()), 1),
                             "llm_calls": m.usage.calls, "cached_calls": m.usage.cached_calls,
                             "tokens": m.usage.prompt_tokens + m.usage.completion_tokens})
    return data


def _node_acc(ws: Workspace, ms: dict, r: int) -> dict:
    name, table = rname("eval", r), rname("node_accuracy", r)
    if name not in ms or table not in ms[name].outputs:
        return {}
    return {(x["node_kind"], x["node_id"]): x["accuracy"]
            for x in ws.read_parquet(ms[name].outputs[table].path).to_pylist()
            if x["split"] == "dev"}


def _node_texts(ws: Workspace, ms: dict) -> dict:
    out = {}
    for m in ms.values():
        if "statements" in m.outputs and "concepts" in m.outputs:
            for s in ws.read_parquet(m.outputs["statements"].path,
                                     columns=["statement_id", "subject", "predicate",
                                              "object"]).to_pylist():
                out[s["statement_id"]] = f"{s['subject']} {s['predicate']} {s['object']}"
            for c in ws.read_parquet(m.outputs["concepts"].path,
                                     columns=["concept_id", "term"]).to_pylist():
                out[c["concept_id"]] = c["term"]
        if "chains" in m.outputs:
            for c in ws.read_parquet(m.outputs["chains"].path,
                                     columns=["chain_id", "process_name"]).to_pylist():
                out[c["chain_id"]] = c["process_name"]
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _ci(o: dict) -> str:
    if not o:
        return "–"
    v = o.get("vs_prior") or {}
    mark = "" if not v else (" · at chance" if v["at_chance"] else
                             f" · {100 * v['diff']:+.1f} vs prior")
    return (f"{_pct(o['accuracy'])} [{_pct(o['ci'][0])}, {_pct(o['ci'][1])}] "
            f"(n={o['items']}){mark}")


def _prior(o: dict) -> str:
    p = (o or {}).get("prior")
    if not p:
        return "–"
    return f"{_pct(p['accuracy'])} [{_pct(p['ci'][0])}, {_pct(p['ci'][1])}]"


def markdown(data: dict, plots: list[str]) -> str:
    lines = ["# proda-ray loop report", "", f"Workspace: `{data['workspace']}`", "",
             "Accuracy in % with 95% intervals (cluster bootstrap over chains or chunks; "
             "Wilson where there are few clusters). The debugger reads only `dev`; `test` "
             "holds unseen items on the same knowledge nodes (what a targeted repair can "
             "move) and `transfer` unseen documents (does the repair generalise, or "
             "regress?). Only `test` and `transfer` count as gains. *Prior*: always giving "
             "each question type's most common key (95% Wilson interval) — a model inside it "
             "has shown no knowledge; *at chance*: the model minus the prior on the same "
             "items (paired cluster bootstrap) holds 0, else that difference.", "",
             "## Accuracy per round", ""]
    first = (data["rounds"][0]["overall"] if data["rounds"] else
             (data["reference"] or {}).get("overall", {}))
    splits = [s for s in ("test", "transfer", "dev") if s in first or s != "transfer"] + (
        ["reference"] if "reference" in first else [])
    lines += ["| model | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    if "reference" in splits:
        lines[-2:-2] = ["`reference`: the authors' own keyed exercises harvested from the "
                        "corpus, an external check on the generated items.", ""]

    def row(name: str, o: dict, cell) -> None:
        lines.append(f"| {name} | " + " | ".join(cell(o.get(s)) for s in splits) + " |")

    if first:
        row("*prior*", first, _prior)
    if data["reference"]:
        row("base (untrained)", data["reference"]["overall"], _ci)
    for r in data["rounds"]:
        row(f"round {r['round']}" + (" (targeted)" if r["round"] > 1 and any(
            c["round"] == r["round"] for c in data.get("control", [])) else ""),
            r["overall"], _ci)
        for c in data.get("control", []):
            if c["round"] == r["round"]:
                row(f"round {r['round']} (blind control)", c["overall"], _ci)
    for c in data.get("control", []):
        lines += ["", f"## Round {c['round']}: targeted vs blind control", "",
                  "Both students train from the same base with the same replay and steps; the "
                  "blind one's new samples come from nodes drawn at random, without diagnosis. "
                  "The change is targeted − blind, paired by item.", "",
                  "| split | items | blind | targeted | targeted − blind [95% CI] | "
                  "detectable |", "|---|---|---|---|---|---|"]
        for s in ("test", "transfer", "dev"):
            x = c["vs_targeted"].get(s)
            if not x:
                continue
            name = s if s != "dev" else "dev (diagnosed: not a gain)"
            lines.append(f"| {name} | {x['items']} | {_pct(x['before'])} | {_pct(x['after'])} "
                         f"| {100 * x['diff']:+.1f} [{100 * x['diff_ci'][0]:+.1f}, "
                         f"{100 * x['diff_ci'][1]:+.1f}] | ±{100 * x['detectable']:.1f} |")
    for c in data["comparisons"]:
        lines += ["", f"## Round {c['to']} vs round {c['from']}", "",
                  "| split | items | before | after | change [95% CI, paired] | "
                  "detectable | fixed | broken | still failing |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in ("test", "transfer", "dev"):
            if s in c:
                x = c[s]
                name = s if s != "dev" else "dev (diagnosed: not a gain)"
                det = x.get("detectable")
                lines.append(f"| {name} | {x['items']} | {_pct(x['before'])} | "
                             f"{_pct(x['after'])} | "
                             f"{100 * x['diff']:+.1f} [{100 * x['diff_ci'][0]:+.1f}, "
                             f"{100 * x['diff_ci'][1]:+.1f}] | "
                             f"{'–' if det is None else f'±{100 * det:.1f}'} | "
                             f"{x['fixed']} | {x['broken']} | {x['still_failing']} |")
        lines += ["", "*Detectable*: the smallest change this many items can show (80% "
                  "power, two-sided 5%: 2.8 standard errors of the paired difference)."]
    if data["rounds"]:
        discs = sorted({d for r in data["rounds"] for d in r["by_discipline"].get("test", {})})
        lines += ["", "## Per discipline (test)", "",
                  "| discipline | " + " | ".join(f"round {r['round']}" for r in data["rounds"])
                  + " |", "|---" * (len(data["rounds"]) + 1) + "|"]
        for d in discs:
            cells = [_ci(r["by_discipline"].get("test", {}).get(d)) for r in data["rounds"]]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
    if data.get("debug"):
        lines += ["", "## Debug", ""]
        for d in data["debug"]:
            lines.append(f"- round {d['round']} → `{d['dataset']}`: {d['failed']} failed dev "
                         f"items; labels {d['labels']}; patches {d['patches_by_task']}; "
                         f"replay {d['replay']}; dropped by decontamination "
                         f"{d['decontamination_dropped'] or 0}")
    if data["weakest_nodes"]:
        lines += ["", "## Weakest nodes on dev (before → after)", "",
                  "| round | rank | kind | node | failed/items | dev acc before | after |",
                  "|---|---|---|---|---|---|---|"]
        for n in data["weakest_nodes"]:
            lines.append(f"| {n['round']} | {n['rank']} | {n['node_kind']} | "
                         f"{n['text'][:60] or n['node_id']} | {n['failed']}/{n['items']} | "
                         f"{_pct(n['dev_accuracy_before'])} | {_pct(n['dev_accuracy_after'])} |")
    lines += ["", "## Cost per stage", "", "| stage | seconds | LLM calls (cached) | tokens |",
              "|---|---|---|---|"]
    for c in data["cost"]:
        lines.append(f"| {c['stage']} | {c['seconds']} | {c['llm_calls']} "
                     f"({c['cached_calls']}) | {c['tokens']} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plots(data: dict) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}

    def save(fig, name):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        out[name] = buf.getvalue()

    rows = ([("base", data["reference"]["by_discipline"].get("test", {}))]
            if data["reference"] else [])
    rows += [(f"round {r['round']}", r["by_discipline"].get("test", {})) for r in data["rounds"]]
    discs = sorted({d for _, b in rows for d in b})
    if discs:
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(discs) * len(rows) / 2), 3.5))
        w = 0.8 / len(rows)
        for i, (label, b) in enumerate(rows):
            xs = [k + i * w for k in range(len(discs))]
            acc = [100 * b[d]["accuracy"] if d in b else 0 for d in discs]
            err = [[100 * (b[d]["accuracy"] - b[d]["ci"][0]) if d in b else 0 for d in discs],
                   [100 * (b[d]["ci"][1] - b[d]["accuracy"]) if d in b else 0 for d in discs]]
            ax.bar(xs, acc, w, yerr=err, capsize=2, label=label)
        ax.set_xticks([k + 0.4 - w / 2 for k in range(len(discs))], discs)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
        ax.set_title("Accuracy per discipline on test (95% bootstrap CI)")
        save(fig, "accuracy_by_discipline.png")
    if data["loss"]:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for r, pts in sorted(data["loss"].items()):
            ax.plot([p["step"] for p in pts], [p["loss"] for p in pts], label=f"round {r} train")
            v = [p for p in pts if p["val_loss"] is not None]
            if v:
                ax.plot([p["step"] for p in v], [p["val_loss"] for p in v], "o--",
                        label=f"round {r} validation")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        ax.set_title("Training loss per round")
        save(fig, "loss.png")
    nodes = [n for n in data["weakest_nodes"] if n["dev_accuracy_before"] is not None]
    if nodes:
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(nodes) + 1.2))
        ys = range(len(nodes))
        ax.barh([y + 0.2 for y in ys], [100 * n["dev_accuracy_before"] for n in nodes], 0.4,
                label="before")
        ax.barh([y - 0.2 for y in ys], [100 * (n["dev_accuracy_after"] or 0) for n in nodes],
                0.4, label="after")
        ax.set_yticks(list(ys), [(n["text"] or n["node_id"])[:40] for n in nodes], fontsize=7)
        ax.set_xlabel("dev accuracy of items on the node (%)")
        ax.legend(fontsize=8)
        ax.set_title("Weakest nodes before and after repair")
        save(fig, "weakest_nodes.png")
    return out


def write_report(ws: Workspace, out: str = "reports") -> dict[str, str]:
    """Write report.md, report.json and the plots under ``out``; returns their URIs."""
    data = collect(ws)
    plots = _plots(data)
    for name, png in plots.items():
        ws.write_bytes(posixpath.join(out, name), png)
    ws.write_bytes(posixpath.join(out, "report.md"),
                   markdown(data, sorted(plots)).encode())
    ws.write_bytes(posixpath.join(out, "report.json"),
                   json.dumps(data, indent=2, default=str).encode())
    return {n: ws.uri_of(out, n) for n in ["report.md", "report.json", *sorted(plots)]}
