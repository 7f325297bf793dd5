"""The semantic model types: stock Llama, Gemma 3 and BERT classes whose attention layers carry `SemanticTerm`.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_semantic import SemanticBertConfig, SemanticGemma3TextConfig, SemanticLlamaConfig


class SemanticLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = SemanticLlamaConfig
    design_base_model_name = "SemanticLlamaModel"


class SemanticLlamaModel(SemanticLlamaPreTrainedModel, llama.LlamaModel):
    pass


class SemanticLlamaForCausalLM(SemanticLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class SemanticLlamaForSequenceClassification(SemanticLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class SemanticGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = SemanticGemma3TextConfig
    design_base_model_name = "SemanticGemma3TextModel"


class SemanticGemma3TextModel(SemanticGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class SemanticGemma3ForCausalLM(SemanticGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class SemanticGemma3TextForSequenceClassification(
    SemanticGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class SemanticBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = SemanticBertConfig
    design_base_model_name = "SemanticBertModel"


class SemanticBertModel(SemanticBertPreTrainedModel, bert.BertModel):
    pass


class SemanticBertForMaskedLM(SemanticBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class SemanticBertForSequenceClassification(SemanticBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class SemanticBertForTokenClassification(SemanticBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "SemanticBertForMaskedLM",
    "SemanticBertForSequenceClassification",
    "SemanticBertForTokenClassification",
    "SemanticBertModel",
    "SemanticBertPreTrainedModel",
    "SemanticGemma3ForCausalLM",
    "SemanticGemma3PreTrainedModel",
    "SemanticGemma3TextForSequenceClassification",
    "SemanticGemma3TextModel",
    "SemanticLlamaForCausalLM",
    "SemanticLlamaForSequenceClassification",
    "SemanticLlamaModel",
    "SemanticLlamaPreTrainedModel",
]
