"""The training loop: one function for Ray Train workers and DeepSpeed's own launcher.

``train_loop(config)`` expects ``torch.distributed`` to be initialized (Ray Train's
``TorchTrainer`` does it; under ``deepspeed`` the loop calls ``deepspeed.init_distributed``)
and reads everything it needs from ``config``: the TrainConfig, the model directory, the
tokenized data (``.npz``) and a ``Reporter`` that persists metrics and checkpoints (Ray
Train's ``report`` or plain files). Read it top to bottom: set-up, resume, steps, export.

Resume is exact: the data a step reads is a pure function of the step, the checkpoint holds
model, optimizer, scheduler and RNG state, so steps after a resume reproduce the losses of an
uninterrupted run (tested).
"""

from __future__ import annotations

import contextlib
import math
import os
import posixpath
import tempfile
import time
from pathlib import Path

import numpy as np

from proda_ray.compile.config import TrainConfig
from proda_ray.compile.data import batch_indices

PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12,
              "L4": 121e12}  # dense bf16 per GPU


def ds_config(cfg: TrainConfig) -> dict:
    zero: dict = {"stage": 2 if cfg.strategy == "zero2" else 3}
    if cfg.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": cfg.use_gpu}
    if cfg.strategy == "zero3":
        zero["stage3_gather_16bit_weights_on_model_save"] = True
        if cfg.offload_params:
            zero["offload_param"] = {"device": "cpu", "pin_memory": cfg.use_gpu}
    return {"train_micro_batch_size_per_gpu": cfg.micro_batch_size,
            "gradient_accumulation_steps": cfg.grad_accum, "gradient_clipping": 1.0,
            "zero_optimization": zero, "bf16": {"enabled": cfg.bf16},
            "steps_per_print": 10 ** 9, "wall_clock_breakdown": False,
            "zero_allow_untested_optimizer": True}  # torch AdamW as the client optimizer


def lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:  # linear warm-up, then cosine to 10% of the peak
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return f


def _batch(arrays: dict, rows: np.ndarray, device) -> dict:
    import torch

    out = {k: torch.from_numpy(arrays[k][rows]).to(device) for k in
           ("input_ids", "labels", "position_ids")}
    if "attention_mask" in arrays:
        out["attention_mask"] = torch.from_numpy(arrays["attention_mask"][rows]).to(device)
    return out


def train_loop(config: dict) -> None:
    import deepspeed
    import torch
    import torch.distributed as dist
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = TrainConfig.model_validate(config["train"])
    reporter = config["reporter"]
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if cfg.use_gpu else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cfg.use_gpu else "cpu")
    if cfg.use_gpu:
        torch.cuda.set_device(device)
    torch.manual_seed(cfg.seed)

    # --- model, optionally LoRA ------------------------------------------------------------
    model_dir = config["model_dir"]
    if "://" in model_dir:  # an object-store base: downloaded once per node
        from proda_ray.workspace.storage import localize

        model_dir = localize(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    hf_ds = None
    if cfg.strategy == "zero3":  # weights are partitioned while loading (zero.Init): a 32B
        from transformers.integrations import HfDeepSpeedConfig  # base never sits whole

        hf_ds = HfDeepSpeedConfig(ds_config(cfg))  # noqa: F841 - must stay alive
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.config.use_cache = False  # a cache disables the packed-sequence attention mask
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM"))
    n_params = sum(p.numel() for p in model.parameters())
    data = reporter.load_data()
    train = {k.removeprefix("train_"): v for k, v in data.items() if k.startswith("train_")}
    val = {k.removeprefix("val_"): v for k, v in data.items() if k.startswith("val_")}
    n_train = len(train["input_ids"])

    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.offload_optimizer and cfg.uses_deepspeed:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer = DeepSpeedCPUAdam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate,
                                      weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    if not cfg.uses_deepspeed:
        model.to(device)
        engine = (torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model)
    else:
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config(cfg),
            dist_init_required=False)

    # --- resume ----------------------------------------------------------------------------
    start = 0
    with reporter.latest_checkpoint() as ckpt:
        if ckpt is not None:
            start = _load(ckpt, cfg, engine, optimizer, scheduler, rank) + 1

    # --- steps -----------------------------------------------------------------------------
    peak = cfg.peak_flops or (PEAK_FLOPS.get(next((k for k in PEAK_FLOPS if k in
                                                   torch.cuda.get_device_name(device)), ""))
                              if cfg.use_gpu else None)
    for step in range(start, cfg.max_steps):
        t0 = time.perf_counter()
        engine.train()
        loss_sum, tokens = 0.0, 0
        for micro in range(cfg.grad_accum):
            rows = batch_indices(n_train, step=step, micro_step=micro,
                                 grad_accum=cfg.grad_accum, world=world, rank=rank,
                                 micro=cfg.micro_batch_size, seed=cfg.seed)
            batch = _batch(train, rows, device)
            loss = engine(**batch, use_cache=False).loss
            tokens += int((batch["labels"] != -100).sum())
            if not cfg.uses_deepspeed:
                (loss / cfg.grad_accum).backward()
            else:
                engine.backward(loss)
                engine.step()
            loss_sum += float(loss.detach())
        if not cfg.uses_deepspeed:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            grad_norm = float(engine.get_global_grad_norm() or 0.0)
        stats = torch.tensor([loss_sum / cfg.grad_accum, float(tokens)], dtype=torch.float64)
        dist.all_reduce(stats)
        dt = time.perf_counter() - t0
        metrics = {"step": step + 1, "loss": stats[0].item() / world,
                   "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                   "tokens": int(stats[1].item()), "tokens_per_s": stats[1].item() / dt,
                   "seconds": dt}
        if peak:
            metrics["mfu"] = 6 * n_params * metrics["tokens_per_s"] / (peak * world)
        last = step + 1 == cfg.max_steps
        if val and ((step + 1) % cfg.val_every == 0 or last):
            metrics["val_loss"] = _validate(engine, val, rank, world, cfg, device)
        if (step + 1) % cfg.checkpoint_every == 0 or last:
            with tempfile.TemporaryDirectory() as d:
                _save(Path(d), step, cfg, engine, optimizer, scheduler, rank)
                reporter.report(metrics, checkpoint_dir=d)
        else:
            reporter.report(metrics)
        if config.get("fail_after_step") == step + 1:  # crash injection (resume tests)
            raise RuntimeError(f"fail_after_step={step + 1} (testing resume)")

    # --- export a plain HF checkpoint --------------------------------------------------------
    _export_to(engine, cfg, rank, model_dir, tok, config["export_dir"])
    dist.barrier()


def _validate(engine, val: dict, rank: int, world: int, cfg: TrainConfig, device) -> float:
    """Mean validation loss per answer token. Every rank runs the same number of forward
    passes (a rank without rows of its own runs a fully masked one): DDP's buffer broadcast
    and ZeRO-3's parameter gathering are collectives, so uneven counts would deadlock."""
    import torch
    import torch.distributed as dist

    engine.eval()
    n = len(val["input_ids"])
    per = world * cfg.micro_batch_size
    total = torch.zeros(2, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, n, per):
            lo = start + rank * cfg.micro_batch_size
            rows = np.arange(lo, min(lo + cfg.micro_batch_size, n))
            batch = _batch(val, rows if len(rows) else np.array([0]), device)
            if not len(rows):
                batch["labels"] = torch.full_like(batch["labels"], -100)
            k = int((batch["labels"][:, 1:] != -100).sum())
            loss = engine(**batch, use_cache=False).loss
            if k:
                total += torch.tensor([float(loss) * k, k], dtype=torch.float64)
    dist.all_reduce(total)
    return (total[0] / total[1]).item() if total[1] else float("nan")


def _save(d: Path, step: int, cfg: TrainConfig, engine, optimizer, scheduler, rank: int):
    import torch

    state = {"step": step, "torch_rng": torch.get_rng_state()}
    if not cfg.uses_deepspeed:
        if rank == 0:
            module = getattr(engine, "module", engine)
            torch.save({**state, "model": module.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict()}, d / "state.pt")
    else:  # every rank writes its shard (DeepSpeed), every rank reports
        engine.save_checkpoint(str(d), tag="ckpt", client_state=state)


def _load(d: str, cfg: TrainConfig, engine, optimizer, scheduler, rank: int) -> int:
    import torch

    if not cfg.uses_deepspeed:
        state = torch.load(Path(d) / "state.pt", weights_only=False)
        getattr(engine, "module", engine).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    else:
        _, state = engine.load_checkpoint(d, tag="ckpt")
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])


def _export(engine, cfg: TrainConfig, rank: int, model_dir: str, tok, out: str) -> None:
    """rank 0 writes ``out/model`` (plain HF; LoRA merged) and, for LoRA, ``out/adapter``.

    The trained weights are gathered (ZeRO-3 shards are collected on every rank, as the
    collective requires) and loaded into a fresh copy of the base, so what is saved is an
    ordinary checkpoint that ``transformers`` (and vLLM) load without DeepSpeed or peft."""
    import deepspeed
    import torch
    from transformers import AutoModelForCausalLM

    from proda_ray.compile.data import ensure_chat_template

    module = getattr(engine, "module", engine)
    gather = (deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=None)
              if cfg.strategy == "zero3" else contextlib.nullcontext())
    with gather:
        state = ({k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
                 if rank == 0 else None)
    if rank != 0:
        return
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()  # the export copy is an ordinary, unpartitioned model
    fresh = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if cfg.method == "lora":
        from peft import LoraConfig, get_peft_model

        fresh = get_peft_model(fresh, LoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules, task_type="CAUSAL_LM"))
    fresh.load_state_dict(state)
    ensure_chat_template(tok)  # the format the student was trained in travels with it
    out_dir = Path(out)
    if cfg.method == "lora":
        fresh.save_pretrained(str(out_dir / "adapter"))
        tok.save_pretrained(str(out_dir / "adapter"))
        fresh = fresh.merge_and_unload()
    fresh.config.use_cache = True
    fresh.save_pretrained(str(out_dir / "model"))
    tok.save_pretrained(str(out_dir / "model"))


def _export_to(engine, cfg: TrainConfig, rank: int, model_dir: str, tok, out: str) -> None:
    """``_export`` to a local directory, or through a local temporary one to an object store."""
    if "://" not in out or out.startswith("file://"):
        _export(engine, cfg, rank, model_dir, tok, out.removeprefix("file://"))
        return
    with tempfile.TemporaryDirectory() as d:
        _export(engine, cfg, rank, model_dir, tok, d)
        if rank == 0:
            from proda_ray.workspace.storage import upload_dir

            for part in ("adapter", "model"):
                if (Path(d) / part).is_dir():
                    upload_dir(Path(d) / part, posixpath.join(out, part))
