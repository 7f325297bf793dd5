"""Config of the continuous-position model type: a stock BERT config plus the design's fields
(`design.ContinuousFields`)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

from ...backbones.bert import BERT
from ...core.model import DesignConfig
from .design import CONTINUOUS, ContinuousFields


@strict
class ContinuousBertConfig(DesignConfig, BertConfig, ContinuousFields):
    r"""A [`BertConfig`] plus the continuous-position fields.

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.ContinuousBertConfig(num_hidden_layers=2, continuous_normalize=True))
    ```"""

    model_type = "continuous_bert"
    designs = (CONTINUOUS,)
    backbone = BERT


__all__ = ["ContinuousBertConfig"]
