"""A backbone adapter: how a stock Transformers family is used by the designs built on it.

One `Backbone` per stock family says which stock classes a design model extends, which attention layer carries
logit terms (and how it makes q, k, v: its `DesignAttention` subclass), which source checkpoints convert onto it
and how their configs translate. Designs never look inside a backbone; backbones never name a design.
"""

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from transformers import PreTrainedConfig
from transformers.models.auto import modeling_auto


# Auto class -> Transformers' own table of stock class names per model type (to read a source's architecture).
_TASK_MAPPINGS = {
    "AutoModel": modeling_auto.MODEL_MAPPING_NAMES,
    "AutoModelForCausalLM": modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    "AutoModelForMaskedLM": modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    "AutoModelForSequenceClassification": modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    "AutoModelForTokenClassification": modeling_auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
}


def scaled_kv_heads(heads: int, stock_heads: int, stock_kv_heads: int) -> int:
    """KV heads of a layer with `heads` query heads, scaled from the stock ratio: the largest divisor of `heads` not
    above heads · kv / heads_stock (at least one)."""
    target = max(1, heads * stock_kv_heads // stock_heads)
    return max(k for k in range(1, target + 1) if heads % k == 0)


class UnsupportedSourceError(ValueError):
    """The source checkpoint is not of a family (or variant) that a design can be converted from."""


@dataclass(frozen=True)
class Backbone:
    """A stock family as the zoo uses it.

    stock_model_type: the model type whose classes design models extend (and whose PEFT defaults they inherit).
    stock_classes: Auto class name -> stock class (`AutoModel` is the base model the heads build).
    attention_class: the stock attention layer; `design_attention` builds its `DesignAttention` counterpart from it.
    source_model_types: stock model types whose checkpoints convert onto this backbone exactly.
    default_auto_class: the task to convert to when a source config names no architecture.
    source_config_kwargs: the source config as keyword arguments of the backbone's config (refusing variants that
        do not map exactly).
    validate_config: checks a design config of this backbone must pass (raise ValueError).
    absent_in_source: weights that checkpoints of a source model type do not have and that must be zero (Qwen2's
        o_proj bias on Llama); any other weight missing from a source is an error.
    position_embedding: path (in the base model) of the stock learned position embedding that a position design
        replaces (`Design.position_encoding`), or None when the family has none (RoPE).
    layer_class: the stock layer class (`layer_class(config, layer_idx)`), from which `narrow_layer` builds layers
        of other widths; None when the family does not offer it.
    feed_forward: path (in the base model) of a layer's feed-forward module, `{}` standing for the layer index, whose
        input a design may extend (`Design.feed_forward_input`); the module above it is the layer.
    prepare_position_inputs: adapts the base model's forward keyword arguments (a dict, changed in place) to
        position ids given or computed by a position design, e.g. float ones (`hf_archs.core.positions`).
    rotary_embedding: path (in the base model) of the rotary embedding module that makes (cos, sin) for the layers,
        or None when the family has none; a design may turn it into the identity (`Design.keeps_rotary`).
    layers: path (in the base model) of the `ModuleList` of transformer layers (a side branch reads their outputs;
        `Design.layer_extension` extends chosen ones).
    """

    name: str
    stock_model_type: str
    stock_classes: dict[str, type]
    attention_class: type
    design_attention: Callable[[nn.Module], nn.Module]
    source_model_types: tuple[str, ...]
    default_auto_class: str
    source_config_kwargs: Callable[[PreTrainedConfig], dict] = lambda source: source.to_dict()
    validate_config: Callable[[PreTrainedConfig], None] = lambda config: None
    # Weights a source checkpoint may lack because its family has none (name suffixes); conversion zeroes them.
    absent_in_source: Callable[[PreTrainedConfig], tuple[str, ...]] = lambda source: ()
    position_embedding: str | None = None
    prepare_position_inputs: Callable[[dict], None] = lambda arguments: None
    rotary_embedding: str | None = None
    layers: str = "layers"
    layer_class: type | None = None
    feed_forward: str | None = None

    @property
    def stock_base_class(self) -> type:
        return self.stock_classes["AutoModel"]

    @property
    def is_decoder(self) -> bool:
        """A causal family (its layers' own mask is causal); otherwise an encoder (bidirectional)."""
        return "AutoModelForCausalLM" in self.stock_classes

    def design_config(self, config_class: type, source: PreTrainedConfig, **design_kwargs) -> PreTrainedConfig:
        """The design config holding every field of `source` that the backbone's config knows, plus `design_kwargs`."""
        known = {f.name for f in dataclasses.fields(config_class)}
        kwargs = {k: v for k, v in self.source_config_kwargs(source).items() if k in known and k != "model_type"}
        return config_class(**{**kwargs, **design_kwargs})

    def auto_class_of(self, source: PreTrainedConfig) -> str:
        """Which Auto class the source checkpoint's architecture belongs to (AutoModel, AutoModelForCausalLM, ...)."""
        architecture = (source.architectures or [None])[0]
        if architecture is None:
            return self.default_auto_class
        for auto_class in self.stock_classes:
            if _TASK_MAPPINGS[auto_class].get(source.model_type) == architecture:
                return auto_class
        raise UnsupportedSourceError(f"No design counterpart for the source architecture {architecture}.")

    def narrow_layer(self, config: PreTrainedConfig, layer_idx: int, width: int) -> nn.Module:
        """A stock layer of this family of hidden size `width`, with the backbone's design attention (no terms).

        Heads, KV heads and the MLP width are scaled by width / hidden_size and the head dim is kept, so that rotary
        embeddings and masks built for the model serve it too; built as layer `layer_idx` (its layer type, e.g.
        sliding window). Raises ValueError when the heads do not scale to an integer.
        """
        if self.layer_class is None:
            raise ValueError(f"The {self.name} backbone cannot build layers of another width.")
        narrow = copy.copy(config)
        heads = config.num_attention_heads * width / config.hidden_size
        if not 0 < width <= config.hidden_size or heads != int(heads):
            raise ValueError(
                f"A layer of width {width} needs an integer number of heads: {config.num_attention_heads} heads over "
                f"hidden size {config.hidden_size} give {heads:g}."
            )
        kv_heads = getattr(config, "num_key_value_heads", None)
        if kv_heads:
            narrow.num_key_value_heads = scaled_kv_heads(int(heads), config.num_attention_heads, kv_heads)
        narrow.hidden_size = width
        narrow.num_attention_heads = int(heads)
        narrow.intermediate_size = max(1, round(config.intermediate_size * width / config.hidden_size))
        layer = self.layer_class(narrow, layer_idx)
        self.swap_in_design_attention(layer)
        return layer

    def swap_in_design_attention(self, base_model: nn.Module) -> list[nn.Module]:
        """Replace every stock attention layer of `base_model` by its design counterpart (same parameter names);
        return the new layers in order."""
        layers = []
        for name, module in list(base_model.named_modules()):
            if type(module) is self.attention_class:
                replacement = self.design_attention(module)
                base_model.set_submodule(name, replacement)
                layers.append(replacement)
        return layers
