"""Run inside the loopback Ray cluster of ``tests/jobs/test_ray_job_submit.py``: a Studio with
``--ray-address`` submits a stage as a Ray job, is restarted while the job runs, finds the job
again, sees it succeed with its log; a second job is cancelled. Writes what it saw as JSON.

    python tests/studio_ray_check.py WORKSPACE DASHBOARD_URL OUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import subprocess

from tests.conftest import SAMPLE_CORPUS
from tests.studio_server import PRODA, Studio


def main(ws: str, address: str, out: str) -> None:
    seen: dict = {}
    # the project file the Studio's `proda spec` reads (the job entrypoints took flags)
    subprocess.run([PRODA, "init", ws, "--corpus", str(SAMPLE_CORPUS)], check=True)

    def studio() -> Studio:
        return Studio(ws, extra=("--ray-address", address)).start()

    post, wait = Studio.post, Studio.wait_job

    s = studio()
    with s.client() as c:
        seen["session"] = c.get("/api/session").json()
        job = post(c, "/api/jobs", {"stage": "spec", "force": True})
        seen["started"] = job
    s.stop()
    s = studio()  # a new Studio process finds the Ray job again
    try:
        with s.client() as c:
            seen["listed"] = [j["id"] for j in c.get("/api/jobs").json()]
            done = wait(c, job["id"], 300)
            seen["done"] = {k: done.get(k) for k in ("state", "backend", "stage")}
            seen["log"] = done.get("log", "")[-4000:]
            seen["spec_state"] = next(x["state"] for x in c.get("/api/overview").json()
                                      ["stages"] if x["name"] == "spec")
            job2 = post(c, "/api/jobs", {"stage": "spec", "force": True})
            time.sleep(2)
            post(c, f"/api/jobs/{job2['id']}/cancel")
            seen["cancelled"] = wait(c, job2["id"], 120)["state"]
    finally:
        s.stop()
    Path(out).write_text(json.dumps(seen, indent=2, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:4])
