"""Configs of the monitor model types: a stock decoder config plus the monitor fields (`design.MonitorFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import Gemma3TextConfig, LlamaConfig

from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import MONITOR, MonitorFields


@strict
class MonitorLlamaConfig(DesignConfig, LlamaConfig, MonitorFields):
    r"""A [`LlamaConfig`] plus the monitor fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.MonitorLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    >>> model(input_ids=torch.tensor([[1, 5, 9]])).anomaly_scores.shape
    torch.Size([1, 3])
    ```"""

    model_type = "monitor_llama"
    designs = (MONITOR,)
    backbone = LLAMA


@strict
class MonitorGemma3TextConfig(DesignConfig, Gemma3TextConfig, MonitorFields):
    r"""A [`Gemma3TextConfig`] plus the monitor fields."""

    model_type = "monitor_gemma3_text"
    designs = (MONITOR,)
    backbone = GEMMA3


__all__ = ["MonitorGemma3TextConfig", "MonitorLlamaConfig"]
