"""The continuous-position model types: stock BERT classes whose position table is the design's MLP.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); every other weight name stays
stock.
"""

from transformers.models.bert import modeling_bert as bert

from ...core.model import DesignPreTrainedModel
from .configuration_continuous import ContinuousBertConfig


class ContinuousBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = ContinuousBertConfig
    design_base_model_name = "ContinuousBertModel"


class ContinuousBertModel(ContinuousBertPreTrainedModel, bert.BertModel):
    pass


class ContinuousBertForMaskedLM(ContinuousBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class ContinuousBertForSequenceClassification(ContinuousBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class ContinuousBertForTokenClassification(ContinuousBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "ContinuousBertForMaskedLM",
    "ContinuousBertForSequenceClassification",
    "ContinuousBertForTokenClassification",
    "ContinuousBertModel",
    "ContinuousBertPreTrainedModel",
]
