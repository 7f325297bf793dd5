"""The resonant model types: stock Llama, Gemma 3 and BERT classes whose attention layers carry `ResonantTerm` (hybrid)
or `ResonantPureTerm` (pure: the score replaces q·k).

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_resonant import (
    ResonantBertConfig,
    ResonantGemma3TextConfig,
    ResonantLlamaConfig,
    ResonantPureBertConfig,
    ResonantPureGemma3TextConfig,
    ResonantPureLlamaConfig,
)


class ResonantLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = ResonantLlamaConfig
    design_base_model_name = "ResonantLlamaModel"


class ResonantLlamaModel(ResonantLlamaPreTrainedModel, llama.LlamaModel):
    pass


class ResonantLlamaForCausalLM(ResonantLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class ResonantLlamaForSequenceClassification(ResonantLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class ResonantGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = ResonantGemma3TextConfig
    design_base_model_name = "ResonantGemma3TextModel"


class ResonantGemma3TextModel(ResonantGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class ResonantGemma3ForCausalLM(ResonantGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class ResonantGemma3TextForSequenceClassification(
    ResonantGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class ResonantBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = ResonantBertConfig
    design_base_model_name = "ResonantBertModel"


class ResonantBertModel(ResonantBertPreTrainedModel, bert.BertModel):
    pass


class ResonantBertForMaskedLM(ResonantBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class ResonantBertForSequenceClassification(ResonantBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class ResonantBertForTokenClassification(ResonantBertPreTrainedModel, bert.BertForTokenClassification):
    pass


class ResonantPureLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = ResonantPureLlamaConfig
    design_base_model_name = "ResonantPureLlamaModel"


class ResonantPureLlamaModel(ResonantPureLlamaPreTrainedModel, llama.LlamaModel):
    pass


class ResonantPureLlamaForCausalLM(ResonantPureLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class ResonantPureLlamaForSequenceClassification(
    ResonantPureLlamaPreTrainedModel, llama.LlamaForSequenceClassification
):
    pass


class ResonantPureGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = ResonantPureGemma3TextConfig
    design_base_model_name = "ResonantPureGemma3TextModel"


class ResonantPureGemma3TextModel(ResonantPureGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class ResonantPureGemma3ForCausalLM(ResonantPureGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class ResonantPureGemma3TextForSequenceClassification(
    ResonantPureGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class ResonantPureBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = ResonantPureBertConfig
    design_base_model_name = "ResonantPureBertModel"


class ResonantPureBertModel(ResonantPureBertPreTrainedModel, bert.BertModel):
    pass


class ResonantPureBertForMaskedLM(ResonantPureBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class ResonantPureBertForSequenceClassification(ResonantPureBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class ResonantPureBertForTokenClassification(ResonantPureBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "ResonantBertForMaskedLM",
    "ResonantBertForSequenceClassification",
    "ResonantBertForTokenClassification",
    "ResonantBertModel",
    "ResonantBertPreTrainedModel",
    "ResonantGemma3ForCausalLM",
    "ResonantGemma3PreTrainedModel",
    "ResonantGemma3TextForSequenceClassification",
    "ResonantGemma3TextModel",
    "ResonantLlamaForCausalLM",
    "ResonantLlamaForSequenceClassification",
    "ResonantLlamaModel",
    "ResonantLlamaPreTrainedModel",
    "ResonantPureBertForMaskedLM",
    "ResonantPureBertForSequenceClassification",
    "ResonantPureBertForTokenClassification",
    "ResonantPureBertModel",
    "ResonantPureBertPreTrainedModel",
    "ResonantPureGemma3ForCausalLM",
    "ResonantPureGemma3PreTrainedModel",
    "ResonantPureGemma3TextForSequenceClassification",
    "ResonantPureGemma3TextModel",
    "ResonantPureLlamaForCausalLM",
    "ResonantPureLlamaForSequenceClassification",
    "ResonantPureLlamaModel",
    "ResonantPureLlamaPreTrainedModel",
]
