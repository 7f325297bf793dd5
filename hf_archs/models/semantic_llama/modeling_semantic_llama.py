"""Semantic Llama: stock Llama with `SemanticLlamaAttention` in the layers that `config.semantic_layers` selects."""

import torch
from transformers import GenerationMixin
from transformers.cache_utils import Cache
from transformers.models.llama.modeling_llama import (
    LlamaAttention,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    LlamaModel,
    LlamaPreTrainedModel,
    apply_rotary_pos_emb,
)

from ...designs.semantic.ops import SEMANTIC_ATTENTION_FUNCTIONS, semantic_eager_attention, unit_normalize
from ...modules.design_model import DesignPreTrainedModel
from ...modules.semantic import SemanticTau, update_cache_with_semantic_states
from .configuration_semantic_llama import SemanticLlamaConfig


class SemanticLlamaAttention(LlamaAttention):
    """`LlamaAttention` + tau_h · cos(x_i, x_j), x the attention input (after `input_layernorm`)."""

    def __init__(self, config: SemanticLlamaConfig, layer_idx: int):
        super().__init__(config, layer_idx)
        self.semantic_tau = SemanticTau(config, config.num_attention_heads)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)

        query_states = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key_states = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value_states = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)

        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb(query_states, key_states, cos, sin)

        semantic_states = unit_normalize(hidden_states, self.config.semantic_eps)  # (batch, L, hidden_size)
        semantic_key_states = semantic_states
        if past_key_values is not None:
            key_states, value_states, semantic_key_states = update_cache_with_semantic_states(
                past_key_values, key_states, value_states, semantic_states, self.layer_idx
            )

        # Design-aware dispatch: the keys of `ALL_ATTENTION_FUNCTIONS`, each adding the cosine term; keys that cannot
        # (flash, flex) are refused.
        attention_interface = SEMANTIC_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, semantic_eager_attention
        )
        attn_output, attn_weights = attention_interface(
            self,
            query_states,
            key_states,
            value_states,
            attention_mask,
            dropout=0.0 if not self.training else self.attention_dropout,
            scaling=self.scaling,
            semantic_query_states=semantic_states,
            semantic_key_states=semantic_key_states,
            **kwargs,
        )

        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        attn_output = self.o_proj(attn_output)
        return attn_output, attn_weights


class SemanticLlamaPreTrainedModel(DesignPreTrainedModel, LlamaPreTrainedModel):
    config: SemanticLlamaConfig
    config_class = SemanticLlamaConfig
    design_attention_functions = SEMANTIC_ATTENTION_FUNCTIONS

    def design_module_for(self, module):
        if type(module) is LlamaAttention and self.config.uses_semantic_attention(module.layer_idx):
            return SemanticLlamaAttention(self.config, module.layer_idx)
        return None

    def design_base_model_class(self):
        return SemanticLlamaModel


class SemanticLlamaModel(SemanticLlamaPreTrainedModel, LlamaModel):
    pass


class SemanticLlamaForCausalLM(SemanticLlamaPreTrainedModel, LlamaForCausalLM, GenerationMixin):
    pass


class SemanticLlamaForSequenceClassification(SemanticLlamaPreTrainedModel, LlamaForSequenceClassification):
    pass


__all__ = [
    "SemanticLlamaAttention",
    "SemanticLlamaPreTrainedModel",
    "SemanticLlamaModel",
    "SemanticLlamaForCausalLM",
    "SemanticLlamaForSequenceClassification",
]
