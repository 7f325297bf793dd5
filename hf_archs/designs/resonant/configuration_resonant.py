"""Configs of the resonant model types: a stock config plus the resonant fields (`design.ResonantFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, Gemma3TextConfig, LlamaConfig

from ...backbones.bert import BERT
from ...backbones.gemma3 import GEMMA3
from ...backbones.llama import LLAMA
from ...core.model import DesignConfig
from .design import RESONANT, RESONANT_PURE, ResonantFields


@strict
class ResonantLlamaConfig(DesignConfig, LlamaConfig, ResonantFields):
    r"""A [`LlamaConfig`] plus the resonant fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.ResonantLlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "resonant_llama"
    designs = (RESONANT,)
    backbone = LLAMA


@strict
class ResonantGemma3TextConfig(DesignConfig, Gemma3TextConfig, ResonantFields):
    r"""A [`Gemma3TextConfig`] plus the resonant fields."""

    model_type = "resonant_gemma3_text"
    designs = (RESONANT,)
    backbone = GEMMA3


@strict
class ResonantBertConfig(DesignConfig, BertConfig, ResonantFields):
    r"""A [`BertConfig`] plus the resonant fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.ResonantBertConfig(num_hidden_layers=2, resonant_tau_init=0.1))
    ```"""

    model_type = "resonant_bert"
    designs = (RESONANT,)
    backbone = BERT


@strict
class ResonantPureLlamaConfig(DesignConfig, LlamaConfig, ResonantFields):
    r"""A [`LlamaConfig`] plus the resonant fields; the resonance score replaces q·k."""

    model_type = "resonant_pure_llama"
    designs = (RESONANT_PURE,)
    backbone = LLAMA


@strict
class ResonantPureGemma3TextConfig(DesignConfig, Gemma3TextConfig, ResonantFields):
    r"""A [`Gemma3TextConfig`] plus the resonant fields; the resonance score replaces q·k."""

    model_type = "resonant_pure_gemma3_text"
    designs = (RESONANT_PURE,)
    backbone = GEMMA3


@strict
class ResonantPureBertConfig(DesignConfig, BertConfig, ResonantFields):
    r"""A [`BertConfig`] plus the resonant fields; the resonance score replaces q·k."""

    model_type = "resonant_pure_bert"
    designs = (RESONANT_PURE,)
    backbone = BERT


__all__ = [
    "ResonantBertConfig",
    "ResonantGemma3TextConfig",
    "ResonantLlamaConfig",
    "ResonantPureBertConfig",
    "ResonantPureGemma3TextConfig",
    "ResonantPureLlamaConfig",
]
