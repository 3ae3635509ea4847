"""The Studio's HTTP API for real: `proda studio` on loopback over a workspace the spec stage
built from the sample corpus. Paging against an independent reading of the Parquet files,
path traversal, the token, CSRF, the Host check, secrets, and durable, cancellable jobs."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from proda_ray.studio.jobs import mask_secrets
from proda_ray.studio.views import redact
from tests.conftest import SAMPLE_CORPUS
from tests.studio_server import PRODA, Studio

SECRET = "sk-studio-test-0d9f8e7c6b5a"


@pytest.fixture(scope="module")
def spec_ws(tmp_path_factory) -> Path:
    """A workspace through the spec stage (in-process executor: no Ray needed here), with
    the project file a `proda spec` job reads."""
    from proda_ray.config import ProjectConfig
    from proda_ray.executors import LocalExecutor
    from proda_ray.spec.stage import SpecStage
    from proda_ray.workspace import Workspace, run_stage

    root = tmp_path_factory.mktemp("studio") / "ws"
    ws = Workspace(root)
    cfg = ProjectConfig.load(ws)
    cfg.spec.corpus = [str(SAMPLE_CORPUS)]
    ws.makedirs()
    cfg.save(ws)
    run_stage(ws, SpecStage(cfg.spec), executor=LocalExecutor(), show_progress=False)
    (root / "reports").mkdir()
    (root / "reports" / "note.md").write_text("# a report\n")
    (root / "escape").symlink_to("/etc")
    return root


@pytest.fixture(scope="module")
def studio(spec_ws, tmp_path_factory):
    log = tmp_path_factory.mktemp("studio-log") / "studio.log"
    with Studio(str(spec_ws), env={"OPENAI_API_KEY": SECRET}, log=log) as s:
        yield s


def parquet_rows(ws: Path, table: str) -> list[dict]:
    """The committed table read independently: manifest -> path -> pyarrow."""
    for m in (ws / "stages").glob("*/manifest.json"):
        outputs = json.loads(m.read_text())["outputs"]
        if table in outputs:
            return pq.read_table(ws / outputs[table]["path"]).to_pylist()
    raise KeyError(table)


def test_tables_are_paged_filtered_and_sorted_on_the_server(studio, spec_ws):
    rows = parquet_rows(spec_ws, "chunks")
    with studio.client() as c:
        listed = {t["name"]: t for t in c.get("/api/tables").json()}
        assert listed["chunks"]["rows"] == len(rows) and "documents" in listed
        first = c.get("/api/tables/chunks", params={"limit": 3}).json()
        assert first["total"] == len(rows) and len(first["rows"]) == 3
        # every page together is the table, each row once
        seen = []
        for off in range(0, len(rows), 4):
            page = c.get("/api/tables/chunks", params={"offset": off, "limit": 4,
                                                       "sort": "chunk_id"}).json()
            seen += [r["chunk_id"] for r in page["rows"]]
        assert seen == sorted(r["chunk_id"] for r in rows)
        # search: case-insensitive substring of any text column
        needle = "ENERGY"
        expect = {r["chunk_id"] for r in rows if any(
            needle.lower() in v.lower() for v in r.values() if isinstance(v, str))}
        got = c.get("/api/tables/chunks", params={"q": needle, "limit": 500}).json()
        assert expect and {r["chunk_id"] for r in got["rows"]} == expect
        assert got["total"] == len(expect)
        # where (repeatable), sort descending, column selection
        code = rows[0]["discipline_code"]
        got = c.get("/api/tables/chunks", params={
            "where": [f"discipline_code:{code}"], "sort": "n_tokens", "desc": True,
            "columns": "chunk_id,n_tokens", "limit": 500}).json()
        want = sorted((r for r in rows if r["discipline_code"] == code),
                      key=lambda r: -r["n_tokens"])
        assert [r["n_tokens"] for r in got["rows"]] == [r["n_tokens"] for r in want]
        assert set(got["rows"][0]) == {"chunk_id", "n_tokens"}
        # facets count what the table holds
        facet = c.get("/api/tables/chunks/facet", params={"column": "discipline"}).json()
        assert {v["value"]: v["count"] for v in facet["values"]} == dict(
            Counter(r["discipline"] for r in rows))
        # never more than a page: a huge limit is capped
        assert c.get("/api/tables/chunks", params={"limit": 10**9}).json()["limit"] == 500
        # bad requests are one line, not a traceback
        for params, code_ in (({"sort": "nope"}, 404), ({"where": ["no_colon"]}, 400)):
            r = c.get("/api/tables/chunks", params=params)
            assert r.status_code == code_ and "Traceback" not in r.text
        assert c.get("/api/tables/nope").status_code == 404


def running_in_group(pgid: int) -> list[str]:
    """Commands of the live (not zombie) processes whose process group is ``pgid``."""
    out = []
    for d in Path("/proc").iterdir():
        try:
            _head, _, tail = (d / "stat").read_text().rpartition(")")
            state, _ppid, pgrp = tail.split()[:3]
            if int(pgrp) == pgid and state != "Z":
                out.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            continue
    return out


def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """A GET with the target sent byte for byte (no client-side path normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_no_path_outside_the_workspace_is_served(studio, spec_ws):
    passwd = Path("/etc/passwd").read_bytes()[:32]
    with studio.client() as c:
        assert c.get("/api/file", params={"path": "reports/note.md"}).text == "# a report\n"
        names = {e["name"] for e in c.get("/api/files", params={"path": ""}).json()["entries"]}
        assert {"stages", "tables", "reports"} <= names
        for bad in ("../../../../etc/passwd", "/etc/passwd", "reports/../../../etc/passwd",
                    "escape/passwd", "escape", "reports/\x00", "..\\..\\etc\\passwd",
                    "%2e%2e/%2e%2e/etc/passwd"):
            for ep in ("/api/file", "/api/files"):
                r = c.get(ep, params={"path": bad})
                assert r.status_code in (400, 404), (ep, bad, r.status_code)
                assert passwd not in r.content
    for target in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                   "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd", "/api/file?path=..%2f..%2f..%2f"
                   "..%2f..%2fetc%2fpasswd", "//etc/passwd"):
        _status, body = raw_get(studio.port, target)
        assert passwd not in body, target


def test_a_token_guards_every_request(spec_ws, tmp_path):
    import subprocess

    import httpx

    # without a token the Studio serves loopback only, and only when asked to
    r = subprocess.run([PRODA, "studio", "-w", str(spec_ws), "--host", "0.0.0.0",
                        "--no-token"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PRODA_STUDIO_TOKEN": ""})
    assert r.returncode == 2 and "token" in r.stderr and "Traceback" not in r.stderr
    with Studio(str(spec_ws), token=None) as s:
        assert httpx.get(f"{s.url}/api/overview").status_code == 200

    with Studio(str(spec_ws), token="t0ken-for-the-test") as s:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t0ken-for"},
                        {"Cookie": f"proda_studio_{s.port}=t0ken-for-the-test"}):
            r = httpx.get(f"{s.url}/api/overview", headers=headers)
            assert r.status_code == 401 and "token" in r.json()["detail"]
        for path in ("/", "/assets/", "/api/file?path=reports/note.md", "/index.html"):
            assert httpx.get(f"{s.url}{path}", follow_redirects=False).status_code == 401
        assert httpx.head(f"{s.url}/api/overview").status_code == 401
        ok = httpx.get(f"{s.url}/api/overview",
                       headers={"Authorization": "Bearer t0ken-for-the-test"})
        assert ok.status_code == 200
        # opening /?token=… trades the token for an HttpOnly session cookie (not the token)
        with httpx.Client(base_url=s.url) as browser:
            r = browser.get("/", params={"token": "t0ken-for-the-test"}, follow_redirects=False)
            assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
            assert "t0ken-for-the-test" not in r.headers["set-cookie"]
            assert browser.get("/api/overview").status_code == 200
        assert httpx.get(f"{s.url}/", params={"token": "wrong"}).status_code == 401


def test_actions_need_the_csrf_token_and_the_host_must_be_loopback(studio):
    with studio.client() as c:
        csrf = c.get("/api/session").json()["csrf"]
        r = c.post("/api/jobs", json={"stage": "spec"})
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = c.post("/api/jobs", json={"stage": "spec"},
                   headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
        assert r.status_code == 403
        r = c.post("/api/jobs", json={"stage": "no-such; rm -rf /"},
                   headers={"X-CSRF-Token": csrf})
        assert r.status_code == 400 and "unknown stage" in r.json()["detail"]
        # DNS rebinding: a page of another name that resolves to 127.0.0.1 gets nothing
        r = c.get("/api/overview", headers={"Host": f"evil.example:{studio.port}"})
        assert r.status_code == 421


def test_secrets_never_leave_the_server(studio, spec_ws, tmp_path):
    """The Studio's environment holds an API key and the workspace holds files with secret
    keys and a job log that printed the key: no endpoint returns either."""
    (spec_ws / "reports" / "engine.json").write_text(json.dumps(
        {"engine": {"api_key": "abc-literal-key", "api_key_env": "OPENAI_API_KEY"}}))
    (spec_ws / "reports" / "engine.yaml").write_text("engine:\n  token: yaml-literal-tok\n")
    (spec_ws / "reports" / "run.log").write_text(f"called with {SECRET}\n")
    jobs = spec_ws / "studio" / "jobs" / "0123456789ab"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / "log.txt").write_text(f"$ proda spec\nkey {SECRET}\n")
    with studio.client() as c:
        paths = ["/api/session", "/api/overview", "/api/tables", "/api/benchmark", "/api/sft",
                 "/api/training", "/api/evaluation", "/api/diagnosis", "/api/jobs",
                 "/api/stages/spec", "/api/files", "/api/files?path=studio/jobs/0123456789ab",
                 "/api/file?path=studio/jobs/0123456789ab/log.txt",
                 "/api/file?path=reports/engine.json", "/api/file?path=reports/engine.yaml",
                 "/api/file?path=reports/run.log", "/api/file?path=proda.yaml",
                 "/api/file?path=stages/spec/manifest.json"]
        bodies = {p: c.get(p).text for p in paths}
        for t in c.get("/api/tables").json():
            bodies[t["name"]] = c.get(f"/api/tables/{t['name']}", params={"limit": 500}).text
        for p, body in bodies.items():
            assert SECRET not in body and "literal-k" not in body and "literal-tok" not in body, p
        assert "[redacted]" in bodies["/api/file?path=reports/run.log"]
        assert "OPENAI_API_KEY" in bodies["/api/file?path=reports/engine.json"]
        assert c.get("/api/file", params={"path": "studio/jobs/0123456789ab/log.txt"}
                     ).status_code == 404
        # a workspace page cannot run in the Studio's origin
        (spec_ws / "reports" / "x.html").write_text("<script>alert(1)</script>")
        (spec_ws / "reports" / "x.xhtml").write_text("<html/>")
        for name in ("x.html", "x.xhtml"):
            r = c.get("/api/file", params={"path": f"reports/{name}"})
            assert not r.headers["content-type"].startswith(("text/html", "application/xhtml"))
            assert "sandbox" in r.headers["content-security-policy"]
    cfg = {"engine": {"api_key": "abc", "api_key_env": "OPENAI_API_KEY",
                      "headers": {"Authorization": "Bearer xyz"}, "model": "m"},
           "secret_token": "s3", "nested": [{"password": "p"}]}
    red = json.dumps(redact(cfg))
    assert all(v not in red for v in ('"abc"', "xyz", '"s3"', '"p"'))
    assert "OPENAI_API_KEY" in red and '"m"' in red
    assert mask_secrets(f"calling with {SECRET}", {"OPENAI_API_KEY": SECRET}) == \
        "calling with [redacted]"


def test_a_job_log_that_prints_a_key_comes_back_masked(tmp_path):
    """A real job whose output holds the key (its corpus path names it): the jobs API
    returns the log with the key masked."""
    from proda_ray.config import ProjectConfig
    from proda_ray.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.makedirs()
    cfg = ProjectConfig.load(ws)
    cfg.spec.corpus = [str(tmp_path / f"missing-{SECRET}")]
    cfg.save(ws)
    with Studio(ws.uri, env={"OPENAI_API_KEY": SECRET}) as s, s.client() as c:
        job = s.post(c, "/api/jobs", {"stage": "spec"})
        j = s.wait_job(c, job["id"], 120)
        assert j["state"] == "failed" and "missing-[redacted]" in j["log"], j["log"][-2000:]
        assert SECRET not in c.get("/api/jobs").text and SECRET not in j["log"]


@pytest.mark.slow
def test_jobs_are_durable_and_cancellable(spec_ws, tmp_path):
    """A stage started through the API is a process of its own: it survives a restart of
    the Studio, finishes, and the overview shows the stage fresh; a cancelled job leaves no
    process behind."""
    post, wait = Studio.post, Studio.wait_job

    s = Studio(str(spec_ws)).start()
    with s.client() as c:
        job = post(c, "/api/jobs", {"stage": "spec", "force": True})
        assert job["state"] == "running" and job["command"][1:4] == ["spec", "-w",
                                                                       str(spec_ws)]
        r = c.post("/api/jobs", json={"stage": "spec"},
                   headers={"X-CSRF-Token": c.get("/api/session").json()["csrf"]})
        assert r.status_code == 400 and "still running" in r.json()["detail"]
    s.stop()
    s = Studio(str(spec_ws)).start()  # a new server process: the job is found again
    try:
        with s.client() as c:
            assert job["id"] in {j["id"] for j in c.get("/api/jobs").json()}
            done = wait(c, job["id"])
            assert done["state"] == "succeeded", done.get("log", "")[-2000:]
            assert "spec built" in c.get(f"/api/jobs/{job['id']}").json()["log"]
            spec = next(x for x in c.get("/api/overview").json()["stages"]
                        if x["name"] == "spec")
            assert spec["state"] == "fresh" and spec["finished_at"] >= done["started_at"]

            job2 = post(c, "/api/jobs", {"stage": "spec", "force": True})
            time.sleep(3)  # let it start its Ray
            cancelled = post(c, f"/api/jobs/{job2['id']}/cancel")
            assert cancelled["state"] == "cancelled"
            assert not running_in_group(job2["pid"])  # the command and its Ray are gone
    finally:
        s.stop()


def test_a_run_that_is_training_shows_its_curve_live(tmp_path):
    """The Training screen's data while a run trains: its step files (written here as rank 0
    writes them, `stages/<train>/runs/<fp>/metrics/step-NNNNNNN.json`) are read on every
    request; a committed run's files are not shown as live."""
    from proda_ray.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.makedirs()

    def step(run: str, n: int) -> None:
        ws.write_json(f"stages/train.r2/runs/{run}/metrics/step-{n:07d}.json",
                      {"step": n, "loss": 3.0 - 0.1 * n, "val_loss": None, "lr": 1e-4,
                       "grad_norm": 1.0, "tokens": 100 * n, "tokens_per_s": 50.0})

    def train_run(c) -> dict:
        runs = c.get("/api/training").json()["runs"]
        return next((r for r in runs if r["stage"] == "train.r2"), runs)

    with Studio(ws.uri) as s, s.client() as c:
        step("a1", 1)
        step("a1", 2)
        r = train_run(c)
        assert r["state"] == "running" and [m["step"] for m in r["metrics"]] == [1, 2]
        stage = next(x for x in c.get("/api/overview").json()["stages"]
                     if x["name"] == "train.r2")
        assert stage["state"] == "running"
        step("a1", 3)
        assert [m["loss"] for m in train_run(c)["metrics"]] == [2.9, 2.8, 2.7]
        ws.write_json("stages/train.r2/runs/a1/manifest.json", {"stage": "train.r2"})
        assert train_run(c)["state"] != "running"
