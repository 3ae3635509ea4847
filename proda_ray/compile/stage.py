"""The train stage: SFT samples -> a fine-tuned checkpoint, on Ray Train.

1. Resolve the base model (a local HF directory, the bundled Gemma 3 270M converted once, or
   a tiny random-init Llama built from the data for tests).
2. Tokenize with the chat template (loss on answers only), split train/validation, pack;
   the arrays go to the run's scratch directory in the workspace.
3. ``TorchTrainer`` runs ``train_loop`` on ``num_workers`` workers (DeepSpeed ZeRO-2/3 or
   DDP); checkpoints go to the run's storage in the workspace. A run that crashed is resumed
   from its latest checkpoint by running the stage again (same fingerprint, same storage).
4. Metrics per step become the ``train_metrics`` table; the exported model (LoRA merged) is
   ``models/<fingerprint>/model`` in the workspace (and ``adapter`` for LoRA).

Round n+1 trains from the same ``base`` as round 1: the base is config, never the previous
round's output, unless a user points ``base`` there on purpose.
"""

from __future__ import annotations

import io
import os
import posixpath
import signal
import tempfile
import threading
import time

import numpy as np
import pyarrow as pa

from proda_ray.compile.config import TrainConfig
from proda_ray.compile.data import encode, ensure_chat_template, pack, split_ids
from proda_ray.contracts import TrainReport
from proda_ray.executors import placement
from proda_ray.rounds import dataset_name
from proda_ray.schema import TRAIN_METRICS
from proda_ray.workspace.stage import Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace, localize, upload_dir


def resolve_base(cfg: TrainConfig, ws: Workspace, scratch: str, texts: list[str]) -> str:
    """A local directory holding the base model (built or converted once when needed)."""
    if cfg.base == "bundled:gemma-3-270m":
        from proda_ray.engines.models import bundled_gemma_hf

        return str(bundled_gemma_hf())
    if cfg.base == "tiny":
        from proda_ray.engines.models import tiny_causal_lm

        texts = texts or ["empty"]
        if ws.is_local:
            path = ws.path(scratch, "tiny-base")
            if not os.path.exists(posixpath.join(path, "config.json")):
                tiny_causal_lm(path, texts, seed=cfg.seed)
            return path
        uri = ws.uri_of(scratch, "tiny-base")  # workers on every node download it from here
        if not ws.exists(scratch, "tiny-base", ".complete"):
            with tempfile.TemporaryDirectory() as d:
                tiny_causal_lm(d, texts, seed=cfg.seed)
                upload_dir(d, uri)
        return uri
    return cfg.base


def prepare(ws: Workspace, samples: list[dict], model_dir: str, cfg: TrainConfig
            ) -> tuple[dict[str, np.ndarray], dict]:
    """Tokenized, split and packed arrays (``train_*``, ``val_*``) and a report."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(localize(model_dir))
    added = ensure_chat_template(tok)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    samples = sorted(samples, key=lambda s: s["sample_id"])
    val_ids = split_ids([s["sample_id"] for s in samples], cfg.val_fraction, cfg.seed)
    enc = {"train": [], "val": []}
    too_long = 0
    for s in samples:
        e = encode(tok, s["prompt"], s["response"], cfg.max_seq_len)
        if e is None:
            too_long += 1
            continue
        enc["val" if s["sample_id"] in val_ids else "train"].append(e)
    if not enc["train"]:
        raise ValueError(f"no training sample fits max_seq_len={cfg.max_seq_len} "
                         f"({too_long} too long, {len(samples)} in the dataset)")
    arrays: dict[str, np.ndarray] = {}
    for split, rows in enc.items():
        if not rows:
            continue
        seqs = pack(rows, cfg.max_seq_len, tok.pad_token_id, cfg.packing)
        arrays.update({f"{split}_input_ids": seqs.input_ids, f"{split}_labels": seqs.labels,
                       f"{split}_position_ids": seqs.position_ids})
        if seqs.attention_mask is not None:
            arrays[f"{split}_attention_mask"] = seqs.attention_mask
    report = {"samples": len(samples), "too_long": too_long,
              "train_samples": len(enc["train"]), "val_samples": len(enc["val"]),
              "train_sequences": len(arrays["train_input_ids"]),
              "answer_tokens": int((arrays["train_labels"] != -100).sum()),
              "chat_template": "proda plain (added)" if added else "the model's own"}
    return arrays, report


def latest_complete_checkpoint(ws: Workspace, storage: str, name: str, cfg: TrainConfig
                               ) -> str | None:
    """The newest checkpoint an earlier (crashed) run of this stage left complete: every
    rank's DeepSpeed shard present (or the DDP state file). Partial uploads are skipped.
    ``storage`` is a path inside the workspace's filesystem (local or object store)."""
    import pyarrow.fs as pafs

    base = posixpath.join(storage, name)
    if ws.fs.get_file_info(base).type != pafs.FileType.Directory:
        return None
    dirs = sorted(i.path for i in ws.fs.get_file_info(pafs.FileSelector(base))
                  if i.type == pafs.FileType.Directory
                  and posixpath.basename(i.path).startswith("checkpoint_"))
    best = None
    for d in dirs:
        files = {posixpath.relpath(i.path, d) for i in ws.fs.get_file_info(
            pafs.FileSelector(d, recursive=True)) if i.type == pafs.FileType.File}
        if cfg.strategy == "ddp":
            ok = "state.pt" in files
        else:
            shards = [f for f in files if f.startswith("ckpt/") and f.endswith("optim_states.pt")]
            ok = len(shards) == cfg.num_workers and "latest" in files
        if ok:
            best = d  # names carry a sortable timestamp: the last complete one wins
    return best


def _tensorboard_dir(cfg: TrainConfig, ws: Workspace, ctx: StageContext) -> str | None:
    if cfg.tensorboard_dir:
        return cfg.tensorboard_dir
    if not cfg.tensorboard:
        return None
    if ws.is_local:
        return ws.path(ctx.scratch, "tensorboard")
    from proda_ray.engines.models import cache_dir

    return str(cache_dir() / "tensorboard" / ctx.fingerprint)


class TrainStage(Stage[TrainConfig]):
    name = "train"
    config_model = TrainConfig
    inputs = ("sft_samples",)
    outputs = ("train_metrics",)
    per_round = True

    def __init__(self, config: TrainConfig, *, round: int = 1, arm: str | None = None,
                 fail_after_step: int | None = None):
        """``round`` n > 1 trains ``sft_v<n>`` (table ``sft_samples.r<n>``, written by the
        debug stage of round n-1) from the same base as round 1; ``arm="blind"`` its control
        dataset ``sft_v<n>_blind``, with the same config (steps, schedule, seed)."""
        super().__init__(config, round=round, arm=arm)
        self.fail_after_step = fail_after_step  # crash injection for resume tests only
        self.inputs = (self.table("sft_samples"),)
        self.outputs = (self.table("train_metrics"),)
        self.dataset = dataset_name(round, arm) if round > 1 else config.dataset

    def run(self, ctx: StageContext) -> StageResult:
        from ray.train import FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        from proda_ray.compile.loop import train_loop
        from proda_ray.compile.report import RayReporter, Sinks

        ws, cfg, res = ctx.workspace, self.config, StageResult()
        # the workers' node, asked for (and refused if the cluster lacks it) before any work
        place = placement.current()
        need = place.demand("train", cpus=cfg.cpus_per_worker, gpus=1 if cfg.use_gpu else 0,
                            accelerator_type=cfg.accelerator_type)
        place.check(f"{self.name} ({cfg.num_workers} workers)", "train", need)
        t0 = time.perf_counter()
        table, metrics_t = self.inputs[0], self.outputs[0]
        samples = [s for s in ws.read_parquet(ctx.inputs[table].path).to_pylist()
                   if s["dataset"] == self.dataset]
        if not samples:
            raise ValueError(f"dataset {self.dataset!r} has no samples in {table}")
        if self.round > 1 and cfg.base == "tiny":
            # the same random-init base (and tokenizer) as round 1, not one built anew
            model_dir = ctx.producer_report("train_metrics", TrainReport).base_dir
        else:
            model_dir = resolve_base(cfg, ws, ctx.scratch,
                                     [f"{s['prompt']}\n{s['response']}" for s in samples])
        data_rel = posixpath.join(ctx.scratch, "data.npz")
        if not ws.exists(data_rel):
            arrays, prep = prepare(ws, samples, model_dir, cfg)
            buf = io.BytesIO()
            np.savez(buf, **arrays)
            ws.write_bytes(data_rel, buf.getvalue())
            ws.write_json(posixpath.join(ctx.scratch, "data.json"), prep)
        prep = ws.read_json(posixpath.join(ctx.scratch, "data.json"))
        res.timings_s["prepare"] = time.perf_counter() - t0
        export_rel = posixpath.join("models", ctx.fingerprint)
        t0 = time.perf_counter()
        storage = ws.path(ctx.scratch, "ray")  # Ray Train persists checkpoints here, on ws.fs
        resume = latest_complete_checkpoint(ws, storage, f"train-{ctx.fingerprint}", cfg)
        if resume:
            print(f"[train] resuming from {resume}", flush=True)
        trainer = TorchTrainer(
            train_loop,
            train_loop_config={"train": cfg.model_dump(mode="json"), "model_dir": model_dir,
                               "reporter": RayReporter(
                                   ws, ctx.scratch, data_rel, resume, cfg.max_steps,
                                   Sinks(_tensorboard_dir(cfg, ws, ctx), cfg.mlflow_uri,
                                         f"train-{ctx.fingerprint}")),
                               "export_dir": (ws.path(export_rel) if ws.is_local
                                              else ws.uri_of(export_rel)),
                               "fail_after_step": self.fail_after_step},
            scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                         resources_per_worker={
                                             k: v for k, v in need.items() if k != "GPU"}),
            run_config=RunConfig(name=f"train-{ctx.fingerprint}",
                                 storage_path=storage,
                                 storage_filesystem=None if ws.is_local else ws.fs,
                                 failure_config=FailureConfig(max_failures=cfg.max_failures)))
        main = threading.current_thread() is threading.main_thread()
        handler = signal.getsignal(signal.SIGINT) if main else None
        try:
            trainer.fit()
        finally:  # Ray Train's fit() installs its own SIGINT handler and leaves it behind,
            if main:  # which would turn a later Ctrl-C (or the lease's stop) into exit 0
                signal.signal(signal.SIGINT, handler)
        res.timings_s["train"] = time.perf_counter() - t0
        rows = [ws.read_json(p) for p in sorted(ws.list_files(ctx.scratch, "metrics",
                                                              suffix=".json"))]
        rows = sorted({r["step"]: r for r in rows}.values(), key=lambda r: r["step"])
        ctx.write_table(metrics_t, pa.Table.from_pylist(rows, schema=TRAIN_METRICS))
        res.outputs[metrics_t] = ctx.table_info(metrics_t)
        last = rows[-1] if rows else {}
        vals = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
        res.counters.update(steps=len(rows), tokens=sum(r["tokens"] for r in rows))
        res.report = TrainReport(
            model=ws.uri_of(export_rel, "model"), base=cfg.base, base_dir=model_dir,
            method=cfg.method, resumed_from=resume, dataset=self.dataset, round=self.round,
            strategy=cfg.strategy, workers=cfg.num_workers, data=prep,
            first_loss=rows[0]["loss"] if rows else None, last_loss=last.get("loss"),
            last_val_loss=vals[-1] if vals else None,
            tokens_per_s=(sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows))
            if rows else None)
        return res
