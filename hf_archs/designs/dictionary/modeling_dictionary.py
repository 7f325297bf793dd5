"""The dictionary model types: stock Llama, Gemma 3 and BERT classes whose chosen FFNs carry `DictionaryInput`.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_dictionary import DictionaryBertConfig, DictionaryGemma3TextConfig, DictionaryLlamaConfig


class DictionaryLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = DictionaryLlamaConfig
    design_base_model_name = "DictionaryLlamaModel"


class DictionaryLlamaModel(DictionaryLlamaPreTrainedModel, llama.LlamaModel):
    pass


class DictionaryLlamaForCausalLM(DictionaryLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class DictionaryLlamaForSequenceClassification(DictionaryLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class DictionaryGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = DictionaryGemma3TextConfig
    design_base_model_name = "DictionaryGemma3TextModel"


class DictionaryGemma3TextModel(DictionaryGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class DictionaryGemma3ForCausalLM(DictionaryGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class DictionaryGemma3TextForSequenceClassification(
    DictionaryGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class DictionaryBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = DictionaryBertConfig
    design_base_model_name = "DictionaryBertModel"


class DictionaryBertModel(DictionaryBertPreTrainedModel, bert.BertModel):
    pass


class DictionaryBertForMaskedLM(DictionaryBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class DictionaryBertForSequenceClassification(DictionaryBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class DictionaryBertForTokenClassification(DictionaryBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "DictionaryBertForMaskedLM",
    "DictionaryBertForSequenceClassification",
    "DictionaryBertForTokenClassification",
    "DictionaryBertModel",
    "DictionaryBertPreTrainedModel",
    "DictionaryGemma3ForCausalLM",
    "DictionaryGemma3PreTrainedModel",
    "DictionaryGemma3TextForSequenceClassification",
    "DictionaryGemma3TextModel",
    "DictionaryLlamaForCausalLM",
    "DictionaryLlamaForSequenceClassification",
    "DictionaryLlamaModel",
    "DictionaryLlamaPreTrainedModel",
]
