"""Configs of the compositions: a stock config plus the fields of every design it carries."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

from ...backbones.bert import BERT
from ...core.model import DesignConfig
from ..continuous.design import CONTINUOUS, ContinuousFields
from ..multiscale.design import MULTISCALE, MultiscaleFields
from ..semantic.design import SEMANTIC, SemanticFields


@strict
class SemanticContinuousMultiscaleBertConfig(
    DesignConfig, BertConfig, SemanticFields, ContinuousFields, MultiscaleFields
):
    r"""A [`BertConfig`] plus the fields of semantic attention, continuous positions and multi-scale layers.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> config = hf_archs.SemanticContinuousMultiscaleBertConfig(
    ...     hidden_size=384, num_attention_heads=12, num_hidden_layers=2, semantic_tau_init=0.1
    ... )
    >>> model = AutoModel.from_config(config)
    ```"""

    model_type = "semantic_continuous_multiscale_bert"
    designs = (SEMANTIC, CONTINUOUS, MULTISCALE)
    backbone = BERT


__all__ = ["SemanticContinuousMultiscaleBertConfig"]
