"""The stock model families a design is built on, and how a stock config becomes a design config."""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from transformers import PreTrainedConfig
from transformers.models.auto import modeling_auto


class UnsupportedSourceError(ValueError):
    """The source checkpoint is not of a family (or variant) that a design can be converted from exactly."""


# Auto classes a design model can stand in for, with Transformers' own tables of stock classes per model type.
TASK_MAPPINGS = {
    "AutoModel": modeling_auto.MODEL_MAPPING_NAMES,
    "AutoModelForCausalLM": modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    "AutoModelForMaskedLM": modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    "AutoModelForSequenceClassification": modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    "AutoModelForTokenClassification": modeling_auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
}


def _llama_family_kwargs(source: PreTrainedConfig) -> dict:
    kwargs = source.to_dict()
    if source.model_type == "mistral" and kwargs.get("sliding_window") is not None:
        raise UnsupportedSourceError(
            "Mistral with a sliding window does not map onto Llama exactly; set sliding_window=None if the model was "
            "never used beyond its window."
        )
    if source.model_type == "qwen2":
        if kwargs.get("use_sliding_window"):
            raise UnsupportedSourceError("Qwen2 with use_sliding_window=True does not map onto Llama exactly.")
        # Qwen2 has q/k/v biases and no o_proj bias; Llama's attention_bias adds all four, o_proj's loads as zeros.
        kwargs["attention_bias"] = True
    return kwargs


def _bert_family_kwargs(source: PreTrainedConfig) -> dict:
    kwargs = source.to_dict()
    if kwargs.get("is_decoder") or kwargs.get("add_cross_attention"):
        raise UnsupportedSourceError("Only BERT encoders convert (is_decoder=False, add_cross_attention=False).")
    if kwargs.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedSourceError("Only BERT with absolute position embeddings converts.")
    return kwargs


@dataclass(frozen=True)
class Backbone:
    name: str
    # The stock model type whose classes the design models extend (and whose PEFT defaults they inherit).
    stock_model_type: str
    # Stock model types whose checkpoints convert exactly onto this backbone.
    source_model_types: tuple[str, ...]
    # The task to convert to when a source config names no architecture.
    default_auto_class: str
    source_config_kwargs: Callable[[PreTrainedConfig], dict]

    def design_config(self, config_class: type, source: PreTrainedConfig, **design_kwargs) -> PreTrainedConfig:
        """The design config holding every field of `source` that the backbone's config knows, plus `design_kwargs`."""
        known = {field.name for field in dataclasses.fields(config_class)}
        kwargs = {k: v for k, v in self.source_config_kwargs(source).items() if k in known and k != "model_type"}
        return config_class(**{**kwargs, **design_kwargs})

    def auto_class_of(self, source: PreTrainedConfig) -> str:
        """Which Auto class the source checkpoint's architecture belongs to (AutoModel, AutoModelForCausalLM, ...)."""
        architecture = (source.architectures or [None])[0]
        if architecture is None:
            return self.default_auto_class
        for auto_class, stock_classes in TASK_MAPPINGS.items():
            if stock_classes.get(source.model_type) == architecture:
                return auto_class
        raise UnsupportedSourceError(f"No design counterpart for the source architecture {architecture}.")


LLAMA = Backbone(
    name="llama",
    stock_model_type="llama",
    source_model_types=("llama", "mistral", "qwen2"),
    default_auto_class="AutoModelForCausalLM",
    source_config_kwargs=_llama_family_kwargs,
)
BERT = Backbone(
    name="bert",
    stock_model_type="bert",
    source_model_types=("bert",),
    default_auto_class="AutoModel",
    source_config_kwargs=_bert_family_kwargs,
)
BACKBONES = {backbone.name: backbone for backbone in (LLAMA, BERT)}


def backbone_for(source: PreTrainedConfig) -> Backbone:
    for backbone in BACKBONES.values():
        if source.model_type in backbone.source_model_types:
            return backbone
    supported = sorted(t for b in BACKBONES.values() for t in b.source_model_types)
    raise UnsupportedSourceError(
        f"Cannot convert a {source.model_type!r} checkpoint: supported source model types are {supported}."
    )
