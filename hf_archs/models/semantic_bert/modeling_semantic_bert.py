"""Semantic BERT: stock BERT with `SemanticBertSelfAttention` in the layers that `config.semantic_layers` selects."""

import torch
from transformers.models.bert.modeling_bert import (
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertPreTrainedModel,
    BertSelfAttention,
)

from ...designs.semantic.ops import SEMANTIC_ATTENTION_FUNCTIONS, semantic_eager_attention, unit_normalize
from ...modules.design_model import DesignPreTrainedModel
from ...modules.semantic import SemanticTau
from .configuration_semantic_bert import SemanticBertConfig


class SemanticBertSelfAttention(BertSelfAttention):
    """`BertSelfAttention` + tau_h · cos(x_i, x_j), x the layer input (BERT is post-LN: no norm before attention)."""

    def __init__(self, config: SemanticBertConfig, is_causal: bool = False, layer_idx: int | None = None):
        super().__init__(config, is_causal=is_causal, layer_idx=layer_idx)
        self.semantic_tau = SemanticTau(config, config.num_attention_heads)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values=None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # The config refuses is_decoder, so there is never a KV cache here.
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.attention_head_size)

        query_layer = self.query(hidden_states).view(*hidden_shape).transpose(1, 2)
        key_layer = self.key(hidden_states).view(*hidden_shape).transpose(1, 2)
        value_layer = self.value(hidden_states).view(*hidden_shape).transpose(1, 2)
        semantic_states = unit_normalize(hidden_states, self.config.semantic_eps)  # (batch, L, hidden_size)

        # Design-aware dispatch: the keys of `ALL_ATTENTION_FUNCTIONS`, each adding the cosine term; keys that cannot
        # (flash, flex) are refused.
        attention_interface = SEMANTIC_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, semantic_eager_attention
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_layer,
            key_layer,
            value_layer,
            attention_mask,
            dropout=0.0 if not self.training else self.dropout.p,
            scaling=self.scaling,
            semantic_query_states=semantic_states,
            semantic_key_states=semantic_states,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return attn_output, attn_weights


class SemanticBertPreTrainedModel(DesignPreTrainedModel, BertPreTrainedModel):
    config: SemanticBertConfig
    config_class = SemanticBertConfig
    design_attention_functions = SEMANTIC_ATTENTION_FUNCTIONS

    def design_module_for(self, module):
        if type(module) is BertSelfAttention and self.config.uses_semantic_attention(module.layer_idx):
            return SemanticBertSelfAttention(self.config, is_causal=module.is_causal, layer_idx=module.layer_idx)
        return None

    def design_base_model_class(self):
        return SemanticBertModel


class SemanticBertModel(SemanticBertPreTrainedModel, BertModel):
    pass


class SemanticBertForMaskedLM(SemanticBertPreTrainedModel, BertForMaskedLM):
    pass


class SemanticBertForSequenceClassification(SemanticBertPreTrainedModel, BertForSequenceClassification):
    pass


class SemanticBertForTokenClassification(SemanticBertPreTrainedModel, BertForTokenClassification):
    pass


__all__ = [
    "SemanticBertSelfAttention",
    "SemanticBertPreTrainedModel",
    "SemanticBertModel",
    "SemanticBertForMaskedLM",
    "SemanticBertForSequenceClassification",
    "SemanticBertForTokenClassification",
]
