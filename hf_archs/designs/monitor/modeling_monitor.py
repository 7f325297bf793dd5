"""The monitor model types: stock Llama and Gemma 3 decoders with the monitor as a side branch of the base model.

Each class is its stock counterpart built as a design model (`hf_archs.core.model`); weight names stay stock and
the monitor's weights live under `model.monitor`. The causal LM returns [`MonitorCausalLMOutputWithPast`].
"""

from transformers import GenerationMixin
from transformers.models.gemma3 import modeling_gemma3 as gemma3
from transformers.models.llama import modeling_llama as llama

from ...core.model import DesignPreTrainedModel
from .configuration_monitor import MonitorGemma3TextConfig, MonitorLlamaConfig
from .design import MonitorCausalLMOutputWithPast, MonitorModelOutputWithPast


class MonitorLlamaPreTrainedModel(DesignPreTrainedModel, llama.LlamaPreTrainedModel):
    config_class = MonitorLlamaConfig
    design_base_model_name = "MonitorLlamaModel"


class MonitorLlamaModel(MonitorLlamaPreTrainedModel, llama.LlamaModel):
    pass


class MonitorLlamaForCausalLM(MonitorLlamaPreTrainedModel, llama.LlamaForCausalLM, GenerationMixin):
    pass


class MonitorLlamaForSequenceClassification(MonitorLlamaPreTrainedModel, llama.LlamaForSequenceClassification):
    pass


class MonitorGemma3PreTrainedModel(DesignPreTrainedModel, gemma3.Gemma3PreTrainedModel):
    config_class = MonitorGemma3TextConfig
    design_base_model_name = "MonitorGemma3TextModel"


class MonitorGemma3TextModel(MonitorGemma3PreTrainedModel, gemma3.Gemma3TextModel):
    pass


class MonitorGemma3ForCausalLM(MonitorGemma3PreTrainedModel, gemma3.Gemma3ForCausalLM, GenerationMixin):
    pass


class MonitorGemma3TextForSequenceClassification(
    MonitorGemma3PreTrainedModel, gemma3.Gemma3TextForSequenceClassification
):
    pass


__all__ = [
    "MonitorCausalLMOutputWithPast",
    "MonitorGemma3ForCausalLM",
    "MonitorGemma3PreTrainedModel",
    "MonitorGemma3TextForSequenceClassification",
    "MonitorGemma3TextModel",
    "MonitorLlamaForCausalLM",
    "MonitorLlamaForSequenceClassification",
    "MonitorLlamaModel",
    "MonitorLlamaPreTrainedModel",
    "MonitorModelOutputWithPast",
]
