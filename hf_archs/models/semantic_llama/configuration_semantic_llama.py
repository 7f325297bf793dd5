"""Semantic Llama: a Llama decoder whose attention logits gain tau_h · cos(x_i, x_j) (DESIGN §3.1)."""

from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig

from ...modules.semantic import SemanticAttentionConfigMixin


@strict
class SemanticLlamaConfig(LlamaConfig, SemanticAttentionConfigMixin):
    r"""A [`LlamaConfig`] plus the semantic attention fields (see `SemanticAttentionConfigMixin`).

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModelForCausalLM
    >>> config = hf_archs.SemanticLlamaConfig(
    ...     hidden_size=64, num_hidden_layers=2, num_attention_heads=4, semantic_tau_init=0.1
    ... )
    >>> model = AutoModelForCausalLM.from_config(config)
    ```"""

    model_type = "semantic_llama"

    def validate_architecture(self):
        super().validate_architecture()
        self.validate_semantic_fields()
        # x̂ (width hidden_size) rides in the key cache split over the KV heads.
        if self.hidden_size % self.num_key_value_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_key_value_heads "
                f"({self.num_key_value_heads}) for the semantic states to ride in the KV cache."
            )


__all__ = ["SemanticLlamaConfig"]
