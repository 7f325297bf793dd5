"""The multi-scale model types: stock Llama, Gemma 3 and BERT classes whose chosen layers carry a `MultiScaleLayer`.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); stock weight names stay stock,
the branches live under each chosen layer's `multiscale` child.
"""

from transformers import GenerationMixin
from transformers.models.bert import modeling_bert as bert
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_multiscale import MultiscaleBertConfig, MultiscaleGemma3TextConfig, MultiscaleLlamaConfig


class MultiscaleLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = MultiscaleLlamaConfig
    design_base_model_name = "MultiscaleLlamaModel"


class MultiscaleLlamaModel(MultiscaleLlamaPreTrainedModel, llama.LlamaModel):
    pass


class MultiscaleLlamaForCausalLM(MultiscaleLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class MultiscaleLlamaForSequenceClassification(MultiscaleLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class MultiscaleGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = MultiscaleGemma3TextConfig
    design_base_model_name = "MultiscaleGemma3TextModel"


class MultiscaleGemma3TextModel(MultiscaleGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class MultiscaleGemma3ForCausalLM(MultiscaleGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class MultiscaleGemma3TextForSequenceClassification(
    MultiscaleGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


class MultiscaleBertPreTrainedModel(DesignPreTrainedModel, bert.BertPreTrainedModel):
    config_class = MultiscaleBertConfig
    design_base_model_name = "MultiscaleBertModel"


class MultiscaleBertModel(MultiscaleBertPreTrainedModel, bert.BertModel):
    pass


class MultiscaleBertForMaskedLM(MultiscaleBertPreTrainedModel, bert.BertForMaskedLM):
    pass


class MultiscaleBertForSequenceClassification(MultiscaleBertPreTrainedModel, bert.BertForSequenceClassification):
    pass


class MultiscaleBertForTokenClassification(MultiscaleBertPreTrainedModel, bert.BertForTokenClassification):
    pass


__all__ = [
    "MultiscaleBertForMaskedLM",
    "MultiscaleBertForSequenceClassification",
    "MultiscaleBertForTokenClassification",
    "MultiscaleBertModel",
    "MultiscaleBertPreTrainedModel",
    "MultiscaleGemma3ForCausalLM",
    "MultiscaleGemma3PreTrainedModel",
    "MultiscaleGemma3TextForSequenceClassification",
    "MultiscaleGemma3TextModel",
    "MultiscaleLlamaForCausalLM",
    "MultiscaleLlamaForSequenceClassification",
    "MultiscaleLlamaModel",
    "MultiscaleLlamaPreTrainedModel",
]
