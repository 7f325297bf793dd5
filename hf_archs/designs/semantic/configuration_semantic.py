"""Configs of the semantic model types: a stock config plus the semantic fields (`design.SemanticFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import SEMANTIC, SemanticFields


@strict
class SemanticLlamaConfig(DesignConfig, LlamaConfig, SemanticFields):
    r"""A [`LlamaConfig`] plus the semantic fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.SemanticLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "semantic_llama"
    designs = (SEMANTIC,)
    backbone = LLAMA


@strict
class SemanticGemma3TextConfig(DesignConfig, Gemma3TextConfig, SemanticFields):
    r"""A [`Gemma3TextConfig`] plus the semantic fields."""

    model_type = "semantic_gemma3_text"
    designs = (SEMANTIC,)
    backbone = GEMMA3


@strict
class SemanticBertConfig(DesignConfig, BertConfig, SemanticFields):
    r"""A [`BertConfig`] plus the semantic fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.SemanticBertConfig(num_hidden_layers=2, semantic_tau_init=0.1))
    ```"""

    model_type = "semantic_bert"
    designs = (SEMANTIC,)
    backbone = BERT


__all__ = ["SemanticBertConfig", "SemanticGemma3TextConfig", "SemanticLlamaConfig"]
