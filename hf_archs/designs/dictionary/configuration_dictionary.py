"""Configs of the dictionary model types: a stock config plus the dictionary fields (`design.DictionaryFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import DICTIONARY, DictionaryFields


@strict
class DictionaryLlamaConfig(DesignConfig, LlamaConfig, DictionaryFields):
    r"""A [`LlamaConfig`] plus the dictionary fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.DictionaryLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "dictionary_llama"
    designs = (DICTIONARY,)
    backbone = LLAMA


@strict
class DictionaryGemma3TextConfig(DesignConfig, Gemma3TextConfig, DictionaryFields):
    r"""A [`Gemma3TextConfig`] plus the dictionary fields."""

    model_type = "dictionary_gemma3_text"
    designs = (DICTIONARY,)
    backbone = GEMMA3


@strict
class DictionaryBertConfig(DesignConfig, BertConfig, DictionaryFields):
    r"""A [`BertConfig`] plus the dictionary fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.DictionaryBertConfig(num_hidden_layers=2, dictionary_init_std=0.1))
    ```"""

    model_type = "dictionary_bert"
    designs = (DICTIONARY,)
    backbone = BERT


__all__ = ["DictionaryBertConfig", "DictionaryGemma3TextConfig", "DictionaryLlamaConfig"]
