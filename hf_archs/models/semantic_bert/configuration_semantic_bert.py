"""Semantic BERT: a BERT encoder whose attention logits gain tau_h · cos(x_i, x_j) (DESIGN §3.1)."""

from huggingface_hub.dataclasses import strict
from transformers import BertConfig

from ...modules.semantic import SemanticAttentionConfigMixin


@strict
class SemanticBertConfig(BertConfig, SemanticAttentionConfigMixin):
    r"""A [`BertConfig`] plus the semantic attention fields (see `SemanticAttentionConfigMixin`).

    ```python
    >>> import hf_archs
    >>> from transformers import AutoModel
    >>> model = AutoModel.from_config(hf_archs.SemanticBertConfig(num_hidden_layers=2, semantic_tau_init=0.1))
    ```"""

    model_type = "semantic_bert"

    def validate_architecture(self):
        super().validate_architecture()
        self.validate_semantic_fields()
        if self.is_decoder or self.add_cross_attention:
            raise ValueError("semantic_bert is an encoder: is_decoder and add_cross_attention must be False.")


__all__ = ["SemanticBertConfig"]
