"""The compositions' model types: stock classes built as design models carrying every design of their config.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`), which attaches each design's
parts; stock weight names stay stock.
"""

from transformers.models.bert import modeling_bert as bert

from ...core.model import DesignPreTrainedModel
from .configuration_compositions import SemanticContinuousMultiscaleBertConfig


class SemanticContinuousMultiscaleBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = SemanticContinuousMultiscaleBertConfig
    design_base_model_name = "SemanticContinuousMultiscaleBertModel"


class SemanticContinuousMultiscaleBertModel(SemanticContinuousMultiscaleBertPreTrainedModel, bert.BertModel):
    pass


class SemanticContinuousMultiscaleBertForMaskedLM(
    SemanticContinuousMultiscaleBertPreTrainedModel, bert.BertForMaskedLM
):
    pass


class SemanticContinuousMultiscaleBertForSequenceClassification(
    SemanticContinuousMultiscaleBertPreTrainedModel, bert.BertForSequenceClassification
):
    pass


class SemanticContinuousMultiscaleBertForTokenClassification(
    SemanticContinuousMultiscaleBertPreTrainedModel, bert.BertForTokenClassification
):
    pass


__all__ = [
    "SemanticContinuousMultiscaleBertForMaskedLM",
    "SemanticContinuousMultiscaleBertForSequenceClassification",
    "SemanticContinuousMultiscaleBertForTokenClassification",
    "SemanticContinuousMultiscaleBertModel",
    "SemanticContinuousMultiscaleBertPreTrainedModel",
]
