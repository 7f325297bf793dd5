"""The positional-suite model types: stock Llama, Gemma 3 and BERT classes whose position encoding is chosen by
`positional_encoding` (the BERT table replaced by `AbsolutePositionEncoding`, `RelativePositionBias` on the attention
logits, the decoders' RoPE kept or turned into the identity).

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock. One
addition: under `positional_encoding="dynamic"` the BERT embeddings hand the content to the position encoding
(`content_gated_embeddings_forward`), which the stock forward does not.
"""

from types import MethodType

import torch
from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_positional import (
    PositionalBertConfig,
    PositionalGemma3TextConfig,
    PositionalLlamaConfig,
)
from .design import variant


def content_gated_embeddings_forward(
    self,
    input_ids: torch.LongTensor | None = None,
    token_type_ids: torch.LongTensor | None = None,
    position_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    past_key_values_length: int = 0,
    cache_length: int = 0,
) -> torch.Tensor:
    """Stock `BertEmbeddings.forward`, except that the position encoding (`DynamicPositionEncoding`) gets the content
    x = word + token-type embeddings and returns the embeddings x ⊙ c + gated sinusoid instead of an addend.

    The cached length comes as `cache_length` from Transformers 5.24 on, `past_key_values_length` before."""
    past_key_values_length = cache_length or past_key_values_length
    if input_ids is not None:
        input_shape = input_ids.size()
    else:
        input_shape = inputs_embeds.size()[:-1]
    batch_size, seq_length = input_shape
    if position_ids is None:
        position_ids = self.position_ids[:, past_key_values_length : seq_length + past_key_values_length]
    if token_type_ids is None:
        # The stock default, all zeros (the stock buffer it is gathered from holds zeros only).
        token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=self.token_type_ids.device)
    if inputs_embeds is None:
        inputs_embeds = self.word_embeddings(input_ids)
    content = inputs_embeds + self.token_type_embeddings(token_type_ids)
    embeddings = self.position_embeddings(position_ids, content)  # (batch, L, hidden): x ⊙ c + gated sinusoid
    embeddings = self.LayerNorm(embeddings)
    embeddings = self.dropout(embeddings)
    return embeddings


class PositionalLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = PositionalLlamaConfig
    design_base_model_name = "PositionalLlamaModel"


class PositionalLlamaModel(PositionalLlamaPreTrainedModel, llama.LlamaModel):
    pass


class PositionalLlamaForCausalLM(PositionalLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class PositionalLlamaForSequenceClassification(PositionalLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class PositionalGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = PositionalGemma3TextConfig
    design_base_model_name = "PositionalGemma3TextModel"


class PositionalGemma3TextModel(PositionalGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class PositionalGemma3ForCausalLM(PositionalGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class PositionalGemma3TextForSequenceClassification(
    PositionalGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class PositionalBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = PositionalBertConfig
    design_base_model_name = "PositionalBertModel"


class PositionalBertModel(PositionalBertPreTrainedModel, bert.BertModel):
    def post_init(self):
        super().post_init()
        if variant(self.config) == "dynamic":
            # Bound to this instance's embeddings (a deep copy rebinds it to the copy's); the stock class is untouched.
            self.embeddings.forward = MethodType(content_gated_embeddings_forward, self.embeddings)


class PositionalBertForMaskedLM(PositionalBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class PositionalBertForSequenceClassification(PositionalBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class PositionalBertForTokenClassification(PositionalBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "PositionalBertForMaskedLM",
    "PositionalBertForSequenceClassification",
    "PositionalBertForTokenClassification",
    "PositionalBertModel",
    "PositionalBertPreTrainedModel",
    "PositionalGemma3ForCausalLM",
    "PositionalGemma3PreTrainedModel",
    "PositionalGemma3TextForSequenceClassification",
    "PositionalGemma3TextModel",
    "PositionalLlamaForCausalLM",
    "PositionalLlamaForSequenceClassification",
    "PositionalLlamaModel",
    "PositionalLlamaPreTrainedModel",
]
