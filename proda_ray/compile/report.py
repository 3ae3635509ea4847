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


class Sinks:
    """Optional metric sinks on rank 0 (TensorBoard, MLflow), opened on first use."""

    def __init__(self, tensorboard_dir: str | None, mlflow_uri: str | None, run_name: str):
        self.tb_dir, self.mlflow_uri, self.run_name = tensorboard_dir, mlflow_uri, run_name
        self._tb = self._mlflow = None

    def log(self, metrics: dict) -> None:
        step = metrics["step"]
        values = {k: v for k, v in metrics.items() if k != "step" and v is not None}
        if self.tb_dir:
            if self._tb is None:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as e:
                    raise RuntimeError("train.tensorboard needs `pip install tensorboard`") from e
                self._tb = SummaryWriter(self.tb_dir)
            for k, v in values.items():
                self._tb.add_scalar(f"train/{k}", v, step)
            self._tb.flush()
        if self.mlflow_uri:
            if self._mlflow is None:
                try:
                    import mlflow
                except ImportError as e:
                    raise RuntimeError("train.mlflow_uri needs `pip install mlflow`") from e
                mlflow.set_tracking_uri(self.mlflow_uri)
                mlflow.start_run(run_name=self.run_name)
                self._mlflow = mlflow
            self._mlflow.log_metrics(values, step=step)


def progress_line(m: dict, max_steps: int) -> str:
    extra = f" val {m['val_loss']:.4f}" if m.get("val_loss") is not None else ""
    mfu = f" mfu {m['mfu']:.1%}" if m.get("mfu") is not None else ""
    return (f"[train] step {m['step']}/{max_steps} loss {m['loss']:.4f}{extra} "
            f"lr {m['lr']:.2e} grad {m['grad_norm']:.3f} {m['tokens_per_s']:.0f} tok/s{mfu}")


class RayReporter:
    def __init__(self, ws: Workspace, scratch: str, data_rel: str,
                 resume_from: str | None = None, max_steps: int = 0,
                 sinks: Sinks | None = None):
        self.ws, self.scratch, self.data_rel = ws, scratch, data_rel
        self.resume_from = resume_from  # a checkpoint of an earlier run of this stage
        self.max_steps, self.sinks = max_steps, sinks

    def load_data(self) -> dict:
        return dict(np.load(io.BytesIO(self.ws.read_bytes(self.data_rel))))

    @contextlib.contextmanager
    def latest_checkpoint(self):
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None and self.resume_from:
            ckpt = ray.train.Checkpoint(self.resume_from,  # a path on the workspace's fs
                                        filesystem=None if self.ws.is_local else self.ws.fs)
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
            print(progress_line(metrics, self.max_steps), flush=True)  # streamed to the driver
            if self.sinks:
                self.sinks.log(metrics)
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
        steps = sorted(d for d in (self.out / "checkpoints").glob("step-*")
                       if (d / ".complete").exists())  # a killed copy is not a checkpoint
        yield str(steps[-1]) if steps else None

    def report(self, metrics: dict, checkpoint_dir: str | None = None) -> None:
        import torch.distributed as dist

        rank = dist.get_rank()
        if checkpoint_dir:  # each rank copies its shard files into the shared directory
            target = self.out / "checkpoints" / f"step-{metrics['step']:07d}"
            shutil.copytree(checkpoint_dir, target, dirs_exist_ok=True)
            dist.barrier()
            if rank == 0:
                (target / ".complete").write_text("ok\n")
        if rank == 0:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(metrics) + "\n")
            print(json.dumps(metrics), flush=True)


