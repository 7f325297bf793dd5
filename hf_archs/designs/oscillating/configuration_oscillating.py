"""Configs of the oscillating model types: a stock config plus the oscillating fields (`design.OscillatingFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import OSCILLATING, OscillatingFields


@strict
class OscillatingLlamaConfig(DesignConfig, LlamaConfig, OscillatingFields):
    r"""A [`LlamaConfig`] plus the oscillating fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> config = hf_archs.OscillatingLlamaConfig(
    ...     hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
    ...     oscillating_layer_attention_patterns=["bidirectional", "forward", "backward"],
    ... )
    >>> model = AutoModel.from_config(config)
    ```"""

    model_type = "oscillating_llama"
    designs = (OSCILLATING,)
    backbone = LLAMA


@strict
class OscillatingGemma3TextConfig(DesignConfig, Gemma3TextConfig, OscillatingFields):
    r"""A [`Gemma3TextConfig`] plus the oscillating fields; sliding-window layers keep their window in every
    direction."""

    model_type = "oscillating_gemma3_text"
    designs = (OSCILLATING,)
    backbone = GEMMA3


@strict
class OscillatingBertConfig(DesignConfig, BertConfig, OscillatingFields):
    r"""A [`BertConfig`] plus the oscillating fields."""

    model_type = "oscillating_bert"
    designs = (OSCILLATING,)
    backbone = BERT


__all__ = ["OscillatingBertConfig", "OscillatingGemma3TextConfig", "OscillatingLlamaConfig"]
