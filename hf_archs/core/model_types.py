"""Model types generated from declarations: the config class and model classes of some designs on a backbone.

    config_class = design_config_class((SEMANTIC,), LLAMA, module=__name__)   # SemanticLlamaConfig
    classes = design_model_classes(config_class, module=__name__)
    classes.pretrained, classes.by_auto  # SemanticLlamaPreTrainedModel, {"AutoModel": SemanticLlamaModel, ...}

They are what one would write by hand (`core/model.py` shows it): the config is the stock config with the designs'
field mixins, each model class its stock counterpart with the design mixin in front; the stock classes build the
network and the design base model attaches the designs' parts. Names follow Transformers: the designs' CamelCase
names before the stock names (`SemanticLlamaForCausalLM`), model types `<design>_<stock model type>`
(`semantic_gemma3_text`; `a_b_…` for several designs). `module` is the module the classes are published in (their
`__module__`), which must bind them under their names: saved remote code and pickling find them there.
"""

from typing import NamedTuple

from huggingface_hub.dataclasses import strict
from transformers import GenerationMixin, PreTrainedModel

from .model import DesignConfig, DesignPreTrainedModel, accepts_flex_attention


def class_prefix(designs: tuple) -> str:
    """ "ResonantPure" for (RESONANT_PURE,), "SemanticContinuous" for (SEMANTIC, CONTINUOUS)."""
    return "".join(word.capitalize() for design in designs for word in design.name.split("_"))


def model_type_of(designs: tuple, backbone) -> str:
    return "_".join([*(design.name for design in designs), backbone.stock_model_type])


def _field_mixins(designs: tuple) -> tuple[type, ...]:
    mixins = []
    for design in designs:
        if design.fields not in mixins:  # variants of one design share its fields (e.g. resonant and resonant_pure)
            mixins.append(design.fields)
    return tuple(mixins)


def design_config_class(designs: tuple, backbone, module: str) -> type:
    """The config class of `designs` on `backbone`: the stock config plus every design's fields."""
    stock_config = backbone.stock_base_class.config_class
    name = class_prefix(designs) + stock_config.__name__
    summary = ", ".join(design.summary.split(":")[0] for design in designs)
    namespace = {
        "__module__": module,
        "__qualname__": name,
        "__doc__": f"A [`{stock_config.__name__}`] plus the fields of {summary} (see the fields' docs).",
        "model_type": model_type_of(designs, backbone),
        "designs": tuple(designs),
        "backbone": backbone,
    }
    return strict(type(name, (DesignConfig, stock_config, *_field_mixins(designs)), namespace))


def _stock_pretrained_class(stock_base: type) -> type:
    """The family's `...PreTrainedModel` (e.g. `LlamaPreTrainedModel`), the common parent of its model classes."""
    return next(
        cls
        for cls in stock_base.__mro__
        if issubclass(cls, PreTrainedModel) and cls is not PreTrainedModel and cls.__name__.endswith("PreTrainedModel")
    )


class ModelClasses(NamedTuple):
    pretrained: type  # the model type's `...PreTrainedModel`
    by_auto: dict[str, type]  # Auto class name -> model class: the base model and a head per stock head


def design_model_classes(config_class: type, module: str) -> ModelClasses:
    """The model classes of a design config class: one per stock class of its backbone (`Backbone.stock_classes`)."""
    backbone = config_class.backbone
    prefix = class_prefix(config_class.designs)
    doc = f"built as a design model of [`{config_class.__name__}`] (`hf_archs.core.model`); weight names stay stock."

    def make(stock: type, bases: tuple, **attributes) -> type:
        name = prefix + stock.__name__
        namespace = {"__module__": module, "__qualname__": name, "__doc__": f"[`{stock.__name__}`] {doc}"}
        return type(name, bases, {**namespace, **attributes})

    stock_pretrained = _stock_pretrained_class(backbone.stock_base_class)
    pretrained = make(
        stock_pretrained,
        (DesignPreTrainedModel, stock_pretrained),
        config_class=config_class,
        _supports_flex_attn=accepts_flex_attention(config_class.designs),
    )
    by_auto = {}
    for auto_class, stock in backbone.stock_classes.items():
        mixins = (GenerationMixin,) if issubclass(stock, GenerationMixin) else ()
        by_auto[auto_class] = make(stock, (pretrained, stock, *mixins))
    pretrained.design_base_model = by_auto["AutoModel"]
    return ModelClasses(pretrained, by_auto)


__all__ = ["ModelClasses", "class_prefix", "design_config_class", "design_model_classes", "model_type_of"]
