"""The zoo: every design, every model type (designs × backbones), and their registration with Transformers and PEFT.

The one place that lists what exists. A design is one line in `DESIGNS`; its model types are generated on every
backbone it runs on (`Design.runs_on`) by `core.model_types`, and published in `hf_archs.models`. A model type that
carries several designs at once is one line in `COMPOSITIONS`. The contract suite, conversion, the CLI, model cards
and remote-code export read these lists.
"""

from dataclasses import dataclass

import transformers
from transformers import AutoConfig

from .backbones import BACKBONES, Backbone
from .core.design import Design
from .core.model_types import design_config_class, design_model_classes
from .designs.continuous import CONTINUOUS
from .designs.dictionary import DICTIONARY
from .designs.monitor import MONITOR
from .designs.multiscale import MULTISCALE
from .designs.oscillating import OSCILLATING
from .designs.positional import POSITIONAL
from .designs.resonant import RESONANT, RESONANT_PURE
from .designs.semantic import SEMANTIC
from .designs.synthesizer import SYNTHESIZER


DESIGNS: dict[str, Design] = {
    design.name: design
    for design in (
        SEMANTIC,
        CONTINUOUS,
        RESONANT,
        RESONANT_PURE,
        OSCILLATING,
        POSITIONAL,
        MONITOR,
        MULTISCALE,
        SYNTHESIZER,
        DICTIONARY,
    )
}

# Model types carrying several designs, on every backbone all of them run on.
COMPOSITIONS: tuple[tuple[Design, ...], ...] = (
    # The three-idea encoder: semantic attention, continuous positions and multi-scale layers (BERT/MiniLM).
    (SEMANTIC, CONTINUOUS, MULTISCALE),
)

# The module that publishes the generated classes (their `__module__`).
MODELS_MODULE = __name__.rpartition(".")[0] + ".models"


@dataclass(frozen=True)
class ZooModel:
    """One model type: a config class carrying one or more designs on a backbone, and its model classes."""

    config_class: type
    # Auto class name -> design model class.
    model_classes: dict[str, type]
    # The `...PreTrainedModel` the model classes share.
    pretrained_class: type

    @property
    def designs(self) -> tuple[Design, ...]:
        return self.config_class.designs

    @property
    def design_name(self) -> str:
        """The design name used by `hf-archs convert --design` ("a+b" for a composition)."""
        return "+".join(design.name for design in self.designs)

    @property
    def backbone(self) -> Backbone:
        return self.config_class.backbone

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def conversion_setting(self) -> dict:
        """What conversion sets by default: the identity setting (the stock model's function), or where a design is
        converted by training, the setting that training starts from."""
        return {k: v for design in self.designs for k, v in design.conversion_setting(self.backbone.name).items()}

    @property
    def active_setting(self) -> dict:
        return {k: v for design in self.designs for k, v in design.active.items()}

    @property
    def summary(self) -> str:
        return "; ".join(design.summary for design in self.designs)

    @property
    def math(self) -> str:
        """Markdown: the design's `Design.math`; for a composition each design's, in order, under its own heading."""
        if len(self.designs) == 1:
            return self.designs[0].math
        return "\n\n".join(f"### The {design.name} design\n\n{design.math}" for design in self.designs)

    @property
    def is_decoder(self) -> bool:
        return "AutoModelForCausalLM" in self.model_classes


def _model_types() -> tuple[ZooModel, ...]:
    entries = []
    for designs in [(design,) for design in DESIGNS.values()] + list(COMPOSITIONS):
        for backbone in BACKBONES.values():
            if all(design.runs_on is None or design.runs_on(backbone) for design in designs):
                config_class = design_config_class(designs, backbone, MODELS_MODULE)
                classes = design_model_classes(config_class, MODELS_MODULE)
                entries.append(ZooModel(config_class, classes.by_auto, classes.pretrained))
    return tuple(entries)


ZOO: tuple[ZooModel, ...] = _model_types()


class UnknownDesignError(ValueError):
    pass


def design(name: str) -> Design:
    if name not in DESIGNS:
        raise UnknownDesignError(f"Unknown design {name!r}; known designs: {sorted(DESIGNS)}.")
    return DESIGNS[name]


def zoo_model(design_name: str, backbone: str) -> ZooModel:
    """The model type of `design_name` (one design, or "a+b" for a composition) on `backbone`."""
    for part in design_name.split("+"):
        design(part)
    for entry in ZOO:
        if entry.design_name == design_name and entry.backbone.name == backbone:
            return entry
    have = sorted(entry.backbone.name for entry in ZOO if entry.design_name == design_name)
    raise UnknownDesignError(f"Design {design_name!r} has no {backbone!r} backbone (it has: {have}).")


def zoo_model_for_type(model_type: str) -> ZooModel:
    for entry in ZOO:
        if entry.model_type == model_type:
            return entry
    raise UnknownDesignError(f"Unknown model type {model_type!r}; zoo model types: {[e.model_type for e in ZOO]}.")


def _register_with_peft(entry: ZooModel) -> None:
    """Give the design model type the PEFT defaults of its stock backbone (LoRA targets and friends)."""
    try:
        from peft.utils import constants
    except ImportError:
        return
    for name in dir(constants):
        mapping = getattr(constants, name)
        if name.startswith("TRANSFORMERS_MODELS_TO_") and isinstance(mapping, dict):
            if entry.backbone.stock_model_type in mapping:
                mapping.setdefault(entry.model_type, mapping[entry.backbone.stock_model_type])


def register_all() -> None:
    from . import remote_code
    from .core import model

    for entry in ZOO:
        AutoConfig.register(entry.model_type, entry.config_class, exist_ok=True)
        for auto_name, model_class in entry.model_classes.items():
            getattr(transformers, auto_name).register(entry.config_class, model_class, exist_ok=True)
        _register_with_peft(entry)
    model.REMOTE_CODE_EXPORTER = remote_code.RemoteCodeExporter()


__all__ = [
    "BACKBONES",
    "DESIGNS",
    "ZOO",
    "UnknownDesignError",
    "ZooModel",
    "design",
    "zoo_model",
    "zoo_model_for_type",
]
