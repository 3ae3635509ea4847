"""Training for real: Ray Train workers, DeepSpeed ZeRO-2/3 on CPU (gloo), SFT data from a
real workspace; checkpoints reload with transformers; crash + resume reproduces the losses of
an uninterrupted run; LoRA merges to a plain checkpoint with the adapter's outputs."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from proda_ray.compile.config import TrainConfig, load_preset
from proda_ray.compile.stage import TrainStage
from proda_ray.workspace import Workspace, run_stage

pytestmark = pytest.mark.slow


def metrics(ws: Workspace, manifest) -> pl.DataFrame:
    return pl.from_arrow(ws.read_parquet(manifest.outputs["train_metrics"].path))


def fresh_copy(loop_ws, tmp_path) -> Workspace:
    """A private copy of the shared workspace (training writes into its workspace)."""
    ws, _, _ = loop_ws
    dst = tmp_path / "ws"
    shutil.copytree(ws.uri, dst)
    return Workspace(dst)


def generate(path: str, prompt: str = "In Biology, what is glucose?") -> str:
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True)
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:])


@pytest.mark.parametrize("strategy", ["zero2", "zero3"])
def test_cpu_tiny_preset_learns_under_deepspeed(loop_ws, tmp_path, strategy):
    ws = fresh_copy(loop_ws, tmp_path)
    cfg = load_preset("cpu-tiny").model_copy(update={"strategy": strategy, "max_steps": 20})
    r = run_stage(ws, TrainStage(cfg), show_progress=False)
    m = metrics(ws, r.manifest)
    assert m.height == 20 and r.manifest.counters["steps"] == 20
    first, last = m["loss"][:3].mean(), m["loss"][-3:].mean()
    assert last < first * 0.8, (first, last)  # loss falls on the workspace's SFT data
    assert m["val_loss"].drop_nulls().len() >= 1 and m["tokens_per_s"].min() > 0
    model_dir = r.manifest.report["model"]
    assert isinstance(generate(model_dir), str)  # reloads with plain transformers
    again = run_stage(ws, TrainStage(cfg), show_progress=False)
    assert again.status == "up-to-date"


def test_resume_after_a_crash_reproduces_the_uninterrupted_losses(loop_ws, tmp_path):
    cfg = load_preset("cpu-tiny").model_copy(update={"max_steps": 8, "checkpoint_every": 3,
                                                     "val_every": 100})
    straight = fresh_copy(loop_ws, tmp_path / "a")
    ref = metrics(straight, run_stage(straight, TrainStage(cfg), show_progress=False).manifest)
    crashed = fresh_copy(loop_ws, tmp_path / "b")
    with pytest.raises(Exception, match="fail_after_step"):
        run_stage(crashed, TrainStage(cfg, fail_after_step=5), show_progress=False)
    resumed = run_stage(crashed, TrainStage(cfg), show_progress=False)
    got = metrics(crashed, resumed.manifest)
    assert got["step"].to_list() == list(range(1, 9))
    # steps 4-8 ran again after resuming from the step-3 checkpoint: same losses
    for a, b in zip(ref["loss"].to_list()[3:], got["loss"].to_list()[3:], strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5)


def test_lora_merge_matches_the_adapter_model(loop_ws, tmp_path):
    from peft import PeftModel

    ws = fresh_copy(loop_ws, tmp_path)
    cfg = load_preset("cpu-tiny").model_copy(update={
        "method": "lora", "strategy": "ddp", "max_steps": 6, "learning_rate": 0.01})
    r = run_stage(ws, TrainStage(cfg), show_progress=False)
    root = r.manifest.report["model"].rsplit("/", 1)[0]
    base_dir = r.manifest.report["base_dir"]
    tok = AutoTokenizer.from_pretrained(f"{root}/model")
    ids = tok("The water cycle", return_tensors="pt")
    merged = AutoModelForCausalLM.from_pretrained(f"{root}/model").eval()
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir),
                                        f"{root}/adapter").eval()
    with torch.no_grad():
        a, b = merged(**ids).logits, adapter(**ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    with torch.no_grad():
        assert not torch.allclose(base(**ids).logits, a, atol=1e-4)  # training changed it
    # the transformers engine evaluates the adapter unmerged, with its own tokenizer/template
    from proda_ray.engines.base import GenerationRequest, SamplingParams, TransformersEngineConfig
    from proda_ray.engines.transformers import TransformersEngine

    reqs = [GenerationRequest(p, SamplingParams(max_tokens=8)) for p in
            ("In Biology, what is glucose?", "The water cycle")]
    merged_out = TransformersEngine(TransformersEngineConfig(model_path=f"{root}/model"))
    adapter_out = TransformersEngine(TransformersEngineConfig(
        model_path=base_dir, adapter_path=f"{root}/adapter"))
    assert adapter_out.chat and adapter_out.model_id != merged_out.model_id
    assert [r.text for r in merged_out.generate(reqs)] == \
        [r.text for r in adapter_out.generate(reqs)]


def test_presets_state_their_shape_and_parse():
    from proda_ray.compile.config import preset_names

    names = preset_names()
    assert {"cpu-tiny", "cpu-gemma-270m", "gpu-3b-zero2", "gpu-7b-zero3",
            "gpu-32b-zero3-offload"} <= set(names)
    for n in names:
        assert isinstance(load_preset(n), TrainConfig)
