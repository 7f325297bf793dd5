"""The positional-suite model types: stock Llama, Gemma 3 and BERT classes whose position encoding is chosen by
`positional_encoding` (the BERT table replaced by `AbsolutePositionEncoding`, `RelativePositionBias` on the attention
logits, the decoders' RoPE kept or turned into the identity).

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

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
    pass


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
