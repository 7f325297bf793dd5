"""The synthesizer model types: stock Llama, Gemma 3 and BERT classes whose attention layers carry `SynthesizerTerm`.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_synthesizer import SynthesizerBertConfig, SynthesizerGemma3TextConfig, SynthesizerLlamaConfig


class SynthesizerLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = SynthesizerLlamaConfig
    design_base_model_name = "SynthesizerLlamaModel"


class SynthesizerLlamaModel(SynthesizerLlamaPreTrainedModel, llama.LlamaModel):
    pass


class SynthesizerLlamaForCausalLM(SynthesizerLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class SynthesizerLlamaForSequenceClassification(SynthesizerLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class SynthesizerGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = SynthesizerGemma3TextConfig
    design_base_model_name = "SynthesizerGemma3TextModel"


class SynthesizerGemma3TextModel(SynthesizerGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class SynthesizerGemma3ForCausalLM(SynthesizerGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class SynthesizerGemma3TextForSequenceClassification(
    SynthesizerGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class SynthesizerBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = SynthesizerBertConfig
    design_base_model_name = "SynthesizerBertModel"


class SynthesizerBertModel(SynthesizerBertPreTrainedModel, bert.BertModel):
    pass


class SynthesizerBertForMaskedLM(SynthesizerBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class SynthesizerBertForSequenceClassification(SynthesizerBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class SynthesizerBertForTokenClassification(SynthesizerBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "SynthesizerBertForMaskedLM",
    "SynthesizerBertForSequenceClassification",
    "SynthesizerBertForTokenClassification",
    "SynthesizerBertModel",
    "SynthesizerBertPreTrainedModel",
    "SynthesizerGemma3ForCausalLM",
    "SynthesizerGemma3PreTrainedModel",
    "SynthesizerGemma3TextForSequenceClassification",
    "SynthesizerGemma3TextModel",
    "SynthesizerLlamaForCausalLM",
    "SynthesizerLlamaForSequenceClassification",
    "SynthesizerLlamaModel",
    "SynthesizerLlamaPreTrainedModel",
]
