"""Where Ray ran each task and actor, from Ray's own state API (not from proda's records).

``python placement_probe.py ADDRESS OUT.json``: every task and actor the cluster knows of, with
the node it ran on, the resources it asked for, its job, and the node kinds each node
advertises. The placement test diffs two such dumps around a stage.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.util.state import list_actors, list_nodes, list_tasks


def main(address: str, out: str) -> None:
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    nodes = {n["NodeID"]: sorted(k for k in n["Resources"] if k.startswith("proda_"))
             for n in ray.nodes() if n["Alive"]}
    tasks = [{"id": t.task_id, "name": t.name, "node": t.node_id, "job": t.job_id,
              "type": str(t.type), "resources": t.required_resources or {},
              "state": str(t.state)}
             for t in list_tasks(detail=True, limit=10_000, raise_on_missing_output=False)]
    actors = [{"id": a.actor_id, "name": a.class_name, "node": a.node_id, "job": a.job_id,
               "resources": a.required_resources or {}, "state": str(a.state)}
              for a in list_actors(detail=True, limit=10_000, raise_on_missing_output=False)]
    alive = [n.node_id for n in list_nodes() if str(n.state) == "ALIVE"]
    with open(out, "w") as f:
        json.dump({"nodes": nodes, "alive": alive, "tasks": tasks, "actors": actors}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
