"""Compile: fine-tuning on Ray Train with DeepSpeed ZeRO (or DDP), from laptop CPU to GPUs."""
