"""Configs of the multiscale model types: a stock config plus the multiscale fields (`design.MultiscaleFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import MULTISCALE, MultiscaleFields


@strict
class MultiscaleLlamaConfig(DesignConfig, LlamaConfig, MultiscaleFields):
    r"""A [`LlamaConfig`] plus the multiscale fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.MultiscaleLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "multiscale_llama"
    designs = (MULTISCALE,)
    backbone = LLAMA


@strict
class MultiscaleGemma3TextConfig(DesignConfig, Gemma3TextConfig, MultiscaleFields):
    r"""A [`Gemma3TextConfig`] plus the multiscale fields."""

    model_type = "multiscale_gemma3_text"
    designs = (MULTISCALE,)
    backbone = GEMMA3


@strict
class MultiscaleBertConfig(DesignConfig, BertConfig, MultiscaleFields):
    r"""A [`BertConfig`] plus the multiscale fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> config = hf_archs.MultiscaleBertConfig(num_hidden_layers=2, multiscale_scales=[128, 256, 768])
    >>> model = AutoModel.from_config(config)
    ```"""

    model_type = "multiscale_bert"
    designs = (MULTISCALE,)
    backbone = BERT


__all__ = ["MultiscaleBertConfig", "MultiscaleGemma3TextConfig", "MultiscaleLlamaConfig"]
