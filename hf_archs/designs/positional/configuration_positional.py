"""Configs of the positional-suite model types: a stock config plus the suite's fields (`design.PositionalFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import POSITIONAL, PositionalFields


@strict
class PositionalLlamaConfig(DesignConfig, LlamaConfig, PositionalFields):
    r"""A [`LlamaConfig`] plus the positional-suite fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.PositionalLlamaConfig(hidden_size=64, num_hidden_layers=2, positional_encoding="alibi")
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "positional_llama"
    designs = (POSITIONAL,)
    backbone = LLAMA


@strict
class PositionalGemma3TextConfig(DesignConfig, Gemma3TextConfig, PositionalFields):
    r"""A [`Gemma3TextConfig`] plus the positional-suite fields."""

    model_type = "positional_gemma3_text"
    designs = (POSITIONAL,)
    backbone = GEMMA3


@strict
class PositionalBertConfig(DesignConfig, BertConfig, PositionalFields):
    r"""A [`BertConfig`] plus the positional-suite fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.PositionalBertConfig(num_hidden_layers=2, positional_encoding="t5"))
    ```"""

    model_type = "positional_bert"
    designs = (POSITIONAL,)
    backbone = BERT


__all__ = ["PositionalBertConfig", "PositionalGemma3TextConfig", "PositionalLlamaConfig"]
