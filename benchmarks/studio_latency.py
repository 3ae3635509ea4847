"""The Studio on a big table: p50/p95 latency of the table endpoints on 100k statements, and
the time a browser takes to open the Knowledge screen and a node page.

    python benchmarks/studio_latency.py [--rows 100000] [--requests 200] [--clients 4]

1. ``proda spec`` on the OpenStax corpus (1,417 real documents), then a benchmark-only stage
   that turns every sentence of every chunk into a ``statements`` row (the real schema, the
   quote at its offsets in the chunk), repeated over the chunks until ``--rows`` rows: a table
   of the size the Studio must serve, with real text. (Its rows are sentences, not mined
   statements: this measures serving, not knowledge.)
2. ``proda studio`` on loopback; ``--clients`` concurrent clients send ``--requests`` requests
   of each kind (first page, a deep page, a search, a filter, a sort, a facet, the global
   search, a node page); the first request of each kind is timed apart, and so is the very
   first read of the table version (Parquet into memory, once per version).
3. Headless Chromium (Playwright): the time from navigation to the first rows of the
   statements table on the Knowledge screen, and to a node page's highlighted quote.

Writes results/studio_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPENSTAX = REPO.parent / "shared" / "corpora" / "openstax"
RESULTS = REPO / "benchmarks" / "results" / "studio_latency.json"
SENTENCE = re.compile(r"[^.!?\n]{40,400}[.!?]")


def build_workspace(root: Path, rows: int) -> Path:
    from pydantic import BaseModel

    from proda_ray.executors import LocalExecutor
    from proda_ray.schema import STATEMENTS
    from proda_ray.workspace import Stage, StageContext, StageResult, Workspace, run_stage

    class Config(BaseModel):
        rows: int

    class SentenceStatements(Stage[Config]):
        name, config_model = "sentences", Config
        inputs, outputs = ("chunks",), ("statements",)

        def run(self, ctx: StageContext) -> StageResult:
            chunks = ctx.workspace.read_parquet(ctx.inputs["chunks"].path,
                                                ["chunk_id", "doc_id", "discipline_code",
                                                 "text"]).to_pylist()
            out, n, rep = [], 0, 0
            while n < self.config.rows:
                for c in chunks:
                    for m in SENTENCE.finditer(c["text"]):
                        words = m.group().split()
                        out.append({
                            "statement_id": f"stmt-{n:016x}", "chain_id": None,
                            "chunk_id": c["chunk_id"], "doc_id": c["doc_id"],
                            "discipline_code": c["discipline_code"], "step_index": None,
                            "subject": " ".join(words[:3]), "predicate": "states",
                            "object": " ".join(words[3:10]), "source_quote": m.group(),
                            "quote_char_start": m.start(), "quote_char_end": m.end(),
                            "grounding": "exact", "origin": f"benchmark_sentence_{rep}",
                            "concept_ids": []})
                        n += 1
                        if n >= self.config.rows:
                            break
                    if n >= self.config.rows:
                        break
                rep += 1
            table = pa.Table.from_pylist(out, schema=STATEMENTS)
            for i in range(0, table.num_rows, 25_000):
                ctx.files.write_part("statements", f"p{i // 25_000:04d}",
                                     table.slice(i, 25_000))
            res = StageResult()
            res.outputs["statements"] = ctx.table_info("statements")
            res.counters["statements"] = table.num_rows
            return res

    ws = Workspace(root)
    proda = str(Path(sys.executable).with_name("proda"))
    subprocess.run([proda, "spec", "-w", str(root), "-c", str(OPENSTAX), "-q"], check=True,
                   env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    run_stage(ws, SentenceStatements(Config(rows=rows)), show_progress=False,
              executor=LocalExecutor())
    return root


def timed(client: httpx.Client, url: str, params: dict) -> float:
    t = time.perf_counter()
    r = client.get(url, params=params)
    r.raise_for_status()
    return (time.perf_counter() - t) * 1000


def load(studio, kinds: dict, requests: int, clients: int) -> dict:
    out = {}
    with studio.client() as c:
        for name, (path, params) in kinds.items():
            cold = timed(c, path, params)
            with ThreadPoolExecutor(clients) as pool:
                ms = list(pool.map(lambda _, p=path, q=params: timed(c, p, q), range(requests)))
            q = statistics.quantiles(ms, n=100, method="inclusive")
            out[name] = {"path": path, "params": params, "first_ms": round(cold, 1),
                         "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(q[94], 1),
                         "max_ms": round(max(ms), 1), "requests": requests}
    return out


def browser_times(studio, node_id: str) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.goto(studio.login_url)
        url = studio.url
        for name, route, tab, sel in (
                ("knowledge_statements", "#/knowledge", '[data-testid="tab-statements"]',
                 '[data-testid="data-table"][data-table-name="statements"] '
                 '[data-testid="table-row"]'),
                ("node_page", f"#/node/{node_id}", None, 'mark[data-testid="quote"]')):
            times = []
            for _ in range(5):
                page.goto("about:blank")
                t = time.perf_counter()
                page.goto(f"{url}/{route}")
                if tab:
                    page.click(tab)
                page.wait_for_selector(sel, timeout=30_000)
                times.append((time.perf_counter() - t) * 1000)
            out[name] = {"median_ms": round(statistics.median(times), 1),
                         "max_ms": round(max(times), 1), "runs": len(times)}
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--workspace", type=Path, default=None)
    args = ap.parse_args()

    from tests.studio_server import Studio

    root = args.workspace or Path(tempfile.mkdtemp(prefix="studio-bench-")) / "ws"
    t0 = time.perf_counter()
    reused = (root / "stages" / "sentences" / "manifest.json").exists()
    if not reused:
        build_workspace(root, args.rows)
    built = "reused" if reused else f"built in {time.perf_counter() - t0:.0f} s"
    with Studio(str(root)) as s:
        with s.client() as c:
            t = time.perf_counter()  # the first read of the version: Parquet -> memory
            total = c.get("/api/tables/statements", params={"limit": 1}).json()["total"]
            cold_load_ms = (time.perf_counter() - t) * 1000
            some = c.get("/api/tables/statements", params={"limit": 1, "offset": total // 2}
                         ).json()["rows"][0]
        kinds = {
            "first_page": ("/api/tables/statements", {"limit": 25}),
            "deep_page": ("/api/tables/statements", {"limit": 25, "offset": total - 50}),
            "search": ("/api/tables/statements", {"limit": 25, "q": "energy"}),
            "filter": ("/api/tables/statements", {"limit": 25,
                                                  "where": f"doc_id:{some['doc_id']}"}),
            "sort": ("/api/tables/statements", {"limit": 25, "sort": "subject",
                                                "desc": True}),
            "facet": ("/api/tables/statements/facet", {"column": "discipline_code"}),
            "global_search": ("/api/search", {"q": "photosynthesis"}),
            "node_page": (f"/api/node/{some['statement_id']}", {}),
        }
        lat = load(s, kinds, args.requests, args.clients)
        print(f"statements: {total} rows (workspace {built}; first read of "
              f"the table {cold_load_ms:.0f} ms); "
              f"{args.clients} clients × {args.requests} requests per kind, loopback, 2 cores")
        print(f"{'request':<16}{'first ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
        for k, v in lat.items():
            print(f"{k:<16}{v['first_ms']:>9}{v['p50_ms']:>9}{v['p95_ms']:>9}{v['max_ms']:>9}")
        pages = browser_times(s, some["statement_id"])
    for k, v in pages.items():
        print(f"browser {k}: median {v['median_ms']} ms, max {v['max_ms']} ms "
              f"({v['runs']} loads)")
    RESULTS.write_text(json.dumps({"rows": total, "cold_load_ms": round(cold_load_ms, 1),
                                   "clients": args.clients,
                                   "requests": args.requests, "latency": lat,
                                   "browser": pages}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
