"""The Studio in a real browser: Playwright drives Debian's headless Chromium against
`proda studio` over a copy of the two-round loop's workspace (a real pipeline run).

Every screen opens without a console error (a screenshot of each is kept under
``test-artifacts/studio/``); a search finds a statement and its node page highlights its quote
at the stored offsets; the round diff shows the counts an independent reading of the two
predictions tables gives; a stage started from the browser runs as a job and the overview
shows it fresh afterwards.

``PRODA_STUDIO_TEST_WS=<workspace>`` looks at that workspace instead of running the loop
(a quicker check while working on the Studio)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO
from tests.studio_server import Studio

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("PRODA_TEST_ARTIFACTS", REPO / "test-artifacts")) / "studio"
SCREENS = {  # route -> an element that only that screen shows once its data has loaded
    "overview": '[data-testid^="stage-"]',
    "corpus": '[data-testid="data-table"][data-table-name="documents"] [data-testid="table-row"]',
    "knowledge": '[data-testid="kc-search"]',
    "benchmark": '[data-testid="data-table"][data-table-name="bench_items"] '
                 '[data-testid="table-row"]',
    "training-data": '[data-testid="data-table"] [data-testid="table-row"]',
    "training": '[data-testid="train-chart"]',
    "evaluation": '[data-testid="diff-fixed"]',
    "diagnosis": '[data-testid="data-table"][data-table-name="diagnoses"] '
                 '[data-testid="table-row"]',
    "runs": '[data-testid="start-job"]',
}


@pytest.fixture(scope="module")
def workspace(request, tmp_path_factory) -> Path:
    """A copy of a two-round workspace (without model weights and checkpoints: the Studio
    reads tables and manifests), so that starting a stage here changes no other test's."""
    src = os.environ.get("PRODA_STUDIO_TEST_WS")
    src = Path(src) if src else Path(request.getfixturevalue("two_round_loop").ws.uri)
    dst = tmp_path_factory.mktemp("studio-ui") / "ws"

    def skip(directory: str, names: list[str]) -> set[str]:
        top = Path(directory) == src
        return {n for n in names if (top and n in ("models", "studio"))
                or n in ("ray", "checkpoints") or n.endswith((".npz", ".safetensors"))}

    shutil.copytree(src, dst, ignore=skip)
    return dst


@pytest.fixture(scope="module")
def studio(workspace, tmp_path_factory):
    with Studio(str(workspace), log=tmp_path_factory.mktemp("log") / "studio.log") as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("PRODA_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser, studio):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    pg.goto(studio.login_url)  # as a user opens the URL `proda studio` printed
    assert pg.url.rstrip("/") == studio.url  # the token left the address bar for a cookie
    pg.problems = []  # console errors and warnings, uncaught exceptions, failed requests
    pg.on("console", lambda m: m.type in ("error", "warning") and pg.problems.append(
        f"console {m.type}: {m.text}"))
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    pg.on("requestfailed", lambda r: pg.problems.append(f"request failed: {r.url}"))
    yield pg
    ctx.close()


def rows(ws: Path, table: str) -> list[dict]:
    """A committed table read independently of the Studio: manifest -> Parquet."""
    for m in (ws / "stages").glob("*/manifest.json"):
        outputs = json.loads(m.read_text())["outputs"]
        if table in outputs:
            return pq.read_table(ws / outputs[table]["path"]).to_pylist()
    raise KeyError(table)


def test_every_screen_opens_without_console_errors(studio, page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for route, ready in SCREENS.items():
        page.goto(f"{studio.url}/#/{'' if route == 'overview' else route}")
        page.wait_for_selector(ready, timeout=20_000)
        page.wait_for_load_state("networkidle")
        assert page.locator('[data-testid="error"]').count() == 0, route
        page.screenshot(path=str(ARTIFACTS / f"{route}.png"), full_page=True)
    assert page.problems == []


def test_search_finds_a_statement_and_its_quote_is_highlighted(studio, page, workspace):
    stmts = [s for s in rows(workspace, "statements") if s["grounding"] == "exact"]
    chunks = {c["chunk_id"]: c["text"] for c in rows(workspace, "chunks")}
    s = max(stmts, key=lambda s: len(s["source_quote"]))
    assert chunks[s["chunk_id"]][s["quote_char_start"]:s["quote_char_end"]] == s["source_quote"]
    page.goto(f"{studio.url}/#/knowledge")
    words = s["source_quote"].split()
    page.fill('[data-testid="kc-search"]', " ".join(words[1:5]))
    hit = page.locator(f'[data-testid="search-result"] a[href$="{s["statement_id"]}"]')
    hit.first.wait_for(timeout=20_000)
    hit.first.click()
    page.wait_for_selector('[data-testid="node-page"]')
    marks = page.locator('[data-testid="source-chunk"] mark[data-testid="quote"]')
    marks.first.wait_for(timeout=20_000)
    assert s["source_quote"] in marks.all_inner_texts()
    assert page.locator('[data-testid="node-graph"]').count() == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "node.png"), full_page=True)
    assert page.problems == []


def test_the_round_diff_shows_the_counts_of_the_two_predictions_tables(studio, page,
                                                                       workspace):
    a = {p["item_id"]: p["correct"] for p in rows(workspace, "predictions")}
    b = {p["item_id"]: p["correct"] for p in rows(workspace, "predictions.r2")}
    want = {"fixed": 0, "broken": 0, "still-failing": 0, "still-passing": 0}
    for item in a.keys() & b.keys():
        key = {(False, True): "fixed", (True, False): "broken", (False, False):
               "still-failing", (True, True): "still-passing"}[(a[item], b[item])]
        want[key] += 1
    page.goto(f"{studio.url}/#/evaluation")
    page.wait_for_selector('[data-testid="diff-a"]')
    page.select_option('[data-testid="diff-a"]', "eval")
    page.select_option('[data-testid="diff-b"]', "eval.r2")
    for key, n in want.items():
        loc = page.locator(f'[data-testid="diff-{key}"]')
        loc.wait_for()
        page.wait_for_function(
            "([sel, n]) => document.querySelector(sel)?.textContent.trim() === String(n)",
            arg=[f'[data-testid="diff-{key}"]', n], timeout=20_000)
    assert sum(want.values()) == len(a.keys() & b.keys()) > 0
    assert page.problems == []


def test_a_stage_started_from_the_browser_runs_and_shows_fresh(studio, page, workspace):
    before = json.loads((workspace / "stages" / "bench" / "manifest.json").read_text())
    page.goto(f"{studio.url}/#/")
    row = page.locator('[data-testid="stage-bench"]')
    row.wait_for()
    assert row.get_attribute("data-state") == "fresh"
    page.click('[data-testid="force-bench"]')
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stage-bench\"]')"
        "?.getAttribute('data-state') === 'running'", timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stage-bench\"]')"
        "?.getAttribute('data-state') === 'fresh'", timeout=300_000, polling=1000)
    after = json.loads((workspace / "stages" / "bench" / "manifest.json").read_text())
    assert after["finished_at"] > before["finished_at"]
    assert after["fingerprint"] == before["fingerprint"]  # the same inputs, rebuilt
    page.goto(f"{studio.url}/#/runs")
    job = page.locator('[data-testid^="job-"][data-state]').first
    job.wait_for()
    assert job.get_attribute("data-state") == "succeeded"
    assert re.search(r"bench", job.inner_text())
    assert page.problems == []
