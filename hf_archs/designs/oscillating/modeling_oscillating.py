"""The oscillating model types: stock Llama, Gemma 3 and BERT classes whose attention layers build their own masks.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_oscillating import OscillatingBertConfig, OscillatingGemma3TextConfig, OscillatingLlamaConfig


class OscillatingLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = OscillatingLlamaConfig
    design_base_model_name = "OscillatingLlamaModel"


class OscillatingLlamaModel(OscillatingLlamaPreTrainedModel, llama.LlamaModel):
    pass


class OscillatingLlamaForCausalLM(OscillatingLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class OscillatingLlamaForSequenceClassification(OscillatingLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class OscillatingGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = OscillatingGemma3TextConfig
    design_base_model_name = "OscillatingGemma3TextModel"


class OscillatingGemma3TextModel(OscillatingGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class OscillatingGemma3ForCausalLM(OscillatingGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class OscillatingGemma3TextForSequenceClassification(
    OscillatingGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class OscillatingBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = OscillatingBertConfig
    design_base_model_name = "OscillatingBertModel"


class OscillatingBertModel(OscillatingBertPreTrainedModel, bert.BertModel):
    pass


class OscillatingBertForMaskedLM(OscillatingBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class OscillatingBertForSequenceClassification(OscillatingBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class OscillatingBertForTokenClassification(OscillatingBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "OscillatingBertForMaskedLM",
    "OscillatingBertForSequenceClassification",
    "OscillatingBertForTokenClassification",
    "OscillatingBertModel",
    "OscillatingBertPreTrainedModel",
    "OscillatingGemma3ForCausalLM",
    "OscillatingGemma3PreTrainedModel",
    "OscillatingGemma3TextForSequenceClassification",
    "OscillatingGemma3TextModel",
    "OscillatingLlamaForCausalLM",
    "OscillatingLlamaForSequenceClassification",
    "OscillatingLlamaModel",
    "OscillatingLlamaPreTrainedModel",
]
