"""The Studio's HTTP server: FastAPI routes over ``views``/``tables``/``jobs``, and security.

- Loopback by default. A non-loopback host needs a token; with a token every request must
  carry it (``Authorization: Bearer``, or the ``proda_token`` cookie set by opening
  ``/?token=…``), compared in constant time. Without one, the ``Host`` header must name a
  loopback host (a page of another site cannot reach the server through DNS rebinding).
- Requests that start or cancel work are POSTs carrying the server's CSRF token
  (``X-CSRF-Token``, from ``/api/session``) and, when the browser sends one, a same-origin
  ``Origin``.
- Only paths inside the workspace are served; configs come back redacted and logs masked.
"""

from __future__ import annotations

import hmac
import ipaddress
import posixpath
import secrets
from importlib import resources
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import polars as pl
import pyarrow.fs as pafs
from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from proda_ray import __version__
from proda_ray.studio import views
from proda_ray.studio.jobs import JobError, LocalJobs, RayJobs, mask_secrets
from proda_ray.studio.tables import TableError, Tables
from proda_ray.workspace import Workspace

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_FILE_BYTES = 64 << 20


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def static_dir() -> Path:
    return Path(str(resources.files("proda_ray.studio") / "static"))


def safe_relpath(path: str) -> str:
    """``path`` as a normalised path inside the workspace, or a ValueError."""
    if "\x00" in path or "\\" in path:
        raise ValueError("invalid path")
    norm = posixpath.normpath("/" + path.strip()).lstrip("/")
    if path.strip().startswith("/") or ".." in path.split("/") or norm.startswith(".."):
        raise ValueError(f"{path!r} is outside the workspace")
    return "" if norm == "." else norm


def create_app(workspace: str, *, token: str | None = None, ray_address: str | None = None,
               host: str = "127.0.0.1", port: int = 8765) -> FastAPI:
    """The app over ``workspace``. ``token``: required on every request (None: none, which
    ``serve`` allows on loopback only, when asked for explicitly)."""
    ws = Workspace(workspace)
    if not ws.exists():
        raise FileNotFoundError(f"no workspace at {ws.uri}")
    tables = Tables(ws)
    jobs = RayJobs(ws, ray_address) if ray_address else LocalJobs(ws)
    csrf = secrets.token_urlsafe(32)
    # the browser's cookie holds a random session id, not the token (cookies are not scoped
    # by port: another server on this host would receive it), under a per-port name
    session_id, cookie = secrets.token_urlsafe(32), f"proda_studio_{port}"
    loopback = is_loopback(host)
    app = FastAPI(title="proda Studio", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.tables, app.state.jobs, app.state.csrf = tables, jobs, csrf

    def authorised(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        if given.lower().startswith("bearer "):
            return hmac.compare_digest(given[7:].encode(), token.encode())
        return hmac.compare_digest(request.cookies.get(cookie, "").encode(),
                                   session_id.encode())

    @app.middleware("http")
    async def guard(request: Request, call_next):
        hostname = (urlsplit(f"//{request.headers.get('host', '')}").hostname or "").lower()
        if loopback and not is_loopback(hostname):  # DNS rebinding
            return JSONResponse({"detail": "this Studio answers on loopback only"}, 421)
        if (token and request.url.path == "/" and "token" in request.query_params
                and hmac.compare_digest(request.query_params["token"].encode(),
                                        token.encode())):
            resp = RedirectResponse("/", 303)
            resp.set_cookie(cookie, session_id, httponly=True, samesite="strict")
            return resp
        if not authorised(request):
            return JSONResponse({"detail": "a valid token is required (open the URL "
                                           "`proda studio` printed: /?token=…)"}, 401)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"detail": "cross-origin request refused"}, 403)
            if not hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(),
                                       csrf.encode()):
                return JSONResponse({"detail": "missing or wrong X-CSRF-Token"}, 403)
        resp = await call_next(request)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Content-Security-Policy", (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; frame-ancestors 'none'"))
        return resp

    @app.exception_handler(TableError)
    @app.exception_handler(JobError)
    async def bad_request(_request: Request, exc: Exception):
        msg = str(exc)
        return JSONResponse({"detail": msg}, 404 if msg.startswith("no ") else 400)

    @app.exception_handler(pl.exceptions.PolarsError)
    async def bad_query(_request: Request, exc: Exception):  # e.g. sorting a list column
        return JSONResponse({"detail": str(exc).splitlines()[0][:300]}, 400)

    # --- reading -------------------------------------------------------------------------------

    @app.get("/api/session")
    def session() -> dict:
        return {"workspace": ws.uri, "csrf": csrf, "version": __version__,
                "jobs_backend": jobs.backend, "ray_address": ray_address}

    @app.get("/api/overview")
    def overview() -> dict:
        return views.overview(tables, jobs.list())

    @app.get("/api/stages/{name}")
    def stage(name: str) -> dict:
        return views.stage_detail(tables, name)

    @app.get("/api/tables")
    def list_tables() -> list[dict]:
        out = []
        for name, ref in sorted(tables.refs().items()):
            out.append({"name": name, "stage": ref.stage, "rows": ref.rows,
                        "columns": tables.schema(name)})
        return out

    @app.get("/api/tables/{name}")
    def table_page(name: str, offset: int = 0, limit: int = 50, q: str = "",
                   sort: str | None = None, desc: bool = False,
                   where: Annotated[list[str] | None, Query()] = None,
                   columns: str | None = None) -> dict:
        cols = [c for c in columns.split(",") if c] if columns else None
        page = tables.page(name, offset=offset, limit=limit, q=q, where=where, sort=sort,
                           desc=desc, columns=cols)
        page["labels"] = views.page_labels(tables, page["rows"])
        return page

    @app.get("/api/tables/{name}/facet")
    def table_facet(name: str, column: str, q: str = "",
                    where: Annotated[list[str] | None, Query()] = None) -> dict:
        return tables.facet(name, column, q=q, where=where)

    @app.get("/api/search")
    def search(q: str = "", limit: int = 20) -> dict:
        return views.search(tables, q, max(1, min(limit, 100)))

    @app.get("/api/node/{node_id}")
    def node(node_id: str) -> dict:
        return views.node(tables, node_id)

    @app.get("/api/benchmark")
    def benchmark() -> dict:
        return views.benchmark(tables)

    @app.get("/api/sft")
    def sft() -> dict:
        return views.sft(tables)

    @app.get("/api/sft/diff")
    def sft_diff(a: str, b: str) -> dict:
        return views.sft_diff(tables, a, b)

    @app.get("/api/training")
    def training() -> dict:
        return views.training(tables, jobs.list())

    @app.get("/api/evaluation")
    def evaluation() -> dict:
        return views.evaluation(tables)

    @app.get("/api/evaluation/diff")
    def evaluation_diff(a: str, b: str, split: str | None = None) -> dict:
        return views.evaluation_diff(tables, a, b, split or None)

    @app.get("/api/diagnosis")
    def diagnosis() -> dict:
        return views.diagnosis(tables)

    @app.get("/api/files")
    def files(path: str = "") -> dict:
        rel = _inside(path)
        info = ws.fs.get_file_info(ws.path(rel) if rel else ws.path())
        if info.type != pafs.FileType.Directory:
            raise TableError(f"no directory {path!r} in the workspace")
        entries = []
        for i in sorted(ws.fs.get_file_info(pafs.FileSelector(info.path)), key=lambda i: i.path):
            name = posixpath.basename(i.path)
            if name.startswith("."):
                continue
            entries.append({"name": name, "path": posixpath.join(rel, name) if rel else name,
                            "type": "dir" if i.type == pafs.FileType.Directory else "file",
                            "size": i.size if i.type == pafs.FileType.File else None})
        return {"path": rel, "entries": entries}

    @app.get("/api/file")
    def file(path: str) -> Response:
        rel = _inside(path)
        if rel == "studio" or rel.startswith("studio/"):
            raise TableError("no file here: job records and logs are served by /api/jobs")
        info = ws.fs.get_file_info(ws.path(rel))
        if info.type != pafs.FileType.File:
            raise TableError(f"no file {path!r} in the workspace")
        if info.size > MAX_FILE_BYTES:
            raise TableError(f"{path!r} is larger than {MAX_FILE_BYTES >> 20} MiB")
        return _file_response(rel, ws.read_bytes(rel))

    def _inside(path: str) -> str:
        try:
            rel = safe_relpath(path)
        except ValueError as e:
            raise TableError(str(e)) from None
        if ws.is_local:  # symlinks must not lead out either
            root = Path(ws.path()).resolve()
            target = Path(ws.path(rel)).resolve() if rel else root
            if target != root and root not in target.parents:
                raise TableError(f"{path!r} is outside the workspace")
        return rel

    # --- jobs ----------------------------------------------------------------------------------

    @app.get("/api/jobs")
    def list_jobs() -> list[dict]:
        return jobs.list()

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> dict:
        return jobs.get(job_id)

    @app.post("/api/jobs")
    def start_job(stage: Annotated[str, Body(embed=True)],
                  force: Annotated[bool, Body(embed=True)] = False,
                  rounds: Annotated[int | None, Body(embed=True)] = None) -> dict:
        return jobs.start(stage, force=force, rounds=rounds)

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict:
        return jobs.cancel(job_id)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST"])
    def unknown(rest: str):
        return JSONResponse({"detail": f"no endpoint /api/{rest}"}, 404)

    static = static_dir()
    if (static / "index.html").exists():
        app.mount("/", StaticFiles(directory=static, html=True), name="static")
    else:
        @app.get("/")
        def unbuilt() -> HTMLResponse:
            return HTMLResponse("<p>The Studio's front end is not built: run <code>make setup"
                                "</code> (it runs <code>npm ci && npm run build</code> in "
                                "<code>studio/web</code>).</p>")
    return app


IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".gif": "image/gif", ".webp": "image/webp"}
TEXT = {".md", ".txt", ".csv", ".tsv", ".jsonl", ".log", ".json", ".yaml", ".yml"}


def _file_response(rel: str, data: bytes) -> Response:
    """A workspace file as the Studio serves it: images as themselves; text (Markdown,
    JSON, YAML, logs) as text/plain with secret-looking config keys redacted and the values
    of secret-looking environment variables masked; anything else as a download. Nothing a
    workspace holds can run as a page of the Studio's origin (and the response is
    sandboxed besides)."""
    import json

    import yaml

    ext = posixpath.splitext(rel)[1].lower()
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'"}
    if ext in IMAGES:
        return Response(data, media_type=IMAGES[ext], headers=headers)
    if ext not in TEXT:
        name = posixpath.basename(rel).replace('"', "")
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(data, media_type="application/octet-stream", headers=headers)
    text = data.decode("utf-8", "replace")
    try:
        if ext == ".json":
            text = json.dumps(views.redact(json.loads(text)), indent=2)
        elif ext in (".yaml", ".yml"):
            text = yaml.safe_dump(views.redact(yaml.safe_load(text)), sort_keys=False)
    except (ValueError, yaml.YAMLError):
        pass  # not parseable: served as text, masked below
    return Response(mask_secrets(text), media_type="text/plain; charset=utf-8", headers=headers)


def serve(workspace: str, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          ray_address: str | None = None) -> None:
    """Serve until interrupted. ``token`` None: no token, which only loopback allows."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise ValueError(f"--host {host} is not loopback: it needs a token (drop --no-token, "
                         "or give --token / PRODA_STUDIO_TOKEN)")
    app = create_app(workspace, token=token, ray_address=ray_address, host=host, port=port)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
