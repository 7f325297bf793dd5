"""Configs of the synthesizer model types: a stock config plus the synthesizer fields (`design.SynthesizerFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import SYNTHESIZER, SynthesizerFields


@strict
class SynthesizerLlamaConfig(DesignConfig, LlamaConfig, SynthesizerFields):
    r"""A [`LlamaConfig`] plus the synthesizer fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.SynthesizerLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "synthesizer_llama"
    designs = (SYNTHESIZER,)
    backbone = LLAMA


@strict
class SynthesizerGemma3TextConfig(DesignConfig, Gemma3TextConfig, SynthesizerFields):
    r"""A [`Gemma3TextConfig`] plus the synthesizer fields."""

    model_type = "synthesizer_gemma3_text"
    designs = (SYNTHESIZER,)
    backbone = GEMMA3


@strict
class SynthesizerBertConfig(DesignConfig, BertConfig, SynthesizerFields):
    r"""A [`BertConfig`] plus the synthesizer fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.SynthesizerBertConfig(num_hidden_layers=2, synthesizer_weight_init=0.1))
    ```"""

    model_type = "synthesizer_bert"
    designs = (SYNTHESIZER,)
    backbone = BERT


__all__ = ["SynthesizerBertConfig", "SynthesizerGemma3TextConfig", "SynthesizerLlamaConfig"]
