"""LoRA fine-tuning of `hf_archs` designs and stock models on the shipped WordNet corpus."""

from .finetune import TASKS, FinetuneReport, finetune_lora, load_base_model
from .lora import apply_lora, default_lora_target_modules, design_modules_to_save


__all__ = [
    "TASKS",
    "FinetuneReport",
    "apply_lora",
    "default_lora_target_modules",
    "design_modules_to_save",
    "finetune_lora",
    "load_base_model",
]
