"""Where the training loop sends metrics and checkpoints, and finds its data.

``RayReporter``: under Ray Train. Every rank reports (DeepSpeed writes one shard per rank);
Ray persists checkpoints to the run's storage (workspace directory or object store) and hands
the latest back on restart. Rank 0 also writes each step's metrics to the workspace.
``FileReporter``: under DeepSpeed's own launcher (no Ray): metrics as JSONL, checkpoints in a
directory. The loop is the same function either way.
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import shutil
from pathlib import Path

import numpy as np

from proda_ray.workspace.storage import Workspace


class RayReporter:
    def __init__(self, ws: Workspace, scratch: str, data_rel: str,
                 resume_from: str | None = None):
        self.ws, self.scratch, self.data_rel = ws, scratch, data_rel
        self.resume_from = resume_from  # a checkpoint of an earlier run of this stage

    def load_data(self) -> dict:
        return dict(np.load(io.BytesIO(self.ws.read_bytes(self.data_rel))))

    @contextlib.contextmanager
    def latest_checkpoint(self):
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None and self.resume_from:
            ckpt = ray.train.Checkpoint(self.resume_from)
        if ckpt is None:
            yield None
            return
        with ckpt.as_directory() as d:
            yield d

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        import ray.train

        if ray.train.get_context().get_world_rank() == 0:
            self.ws.write_json(posixpath.join(self.scratch, "metrics",
                                              f"step-{metrics['step']:07d}.json"), metrics)
        ckpt = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=ckpt)


class FileReporter:
    """For ``deepspeed --num_gpus N jobs/train_ds.py``: plain files under ``out``."""

    def __init__(self, out: str, data_path: str):
        self.out, self.data_path = Path(out), data_path
        (self.out / "checkpoints").mkdir(parents=True, exist_ok=True)

    def load_data(self) -> dict:
        return dict(np.load(self.data_path))

    @contextlib.contextmanager
    def latest_checkpoint(self):
        steps = sorted((self.out / "checkpoints").glob("step-*"))
        yield str(steps[-1]) if steps else None

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        import torch.distributed as dist

        rank = dist.get_rank()
        if checkpoint_dir:  # each rank copies its shard files into the shared directory
            target = self.out / "checkpoints" / f"step-{metrics['step']:07d}"
            shutil.copytree(checkpoint_dir, target, dirs_exist_ok=True)
            dist.barrier()
        if rank == 0:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
            print(json.dumps(metrics), flush=True)


