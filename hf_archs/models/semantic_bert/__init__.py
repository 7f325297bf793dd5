from .configuration_semantic_bert import SemanticBertConfig
from .modeling_semantic_bert import (
    SemanticBertForMaskedLM,
    SemanticBertForSequenceClassification,
    SemanticBertForTokenClassification,
    SemanticBertModel,
    SemanticBertPreTrainedModel,
    SemanticBertSelfAttention,
)


__all__ = [
    "SemanticBertConfig",
    "SemanticBertForMaskedLM",
    "SemanticBertForSequenceClassification",
    "SemanticBertForTokenClassification",
    "SemanticBertModel",
    "SemanticBertPreTrainedModel",
    "SemanticBertSelfAttention",
]
