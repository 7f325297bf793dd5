from .configuration_semantic_llama import SemanticLlamaConfig
from .modeling_semantic_llama import (
    SemanticLlamaAttention,
    SemanticLlamaForCausalLM,
    SemanticLlamaForSequenceClassification,
    SemanticLlamaModel,
    SemanticLlamaPreTrainedModel,
)


__all__ = [
    "SemanticLlamaAttention",
    "SemanticLlamaConfig",
    "SemanticLlamaForCausalLM",
    "SemanticLlamaForSequenceClassification",
    "SemanticLlamaModel",
    "SemanticLlamaPreTrainedModel",
]
