"""The zoo: every design, every model type (designs × backbone), and their registration with Transformers and PEFT.

The one place that lists what exists. Adding a design means adding its `Design` to `DESIGNS` and its model types
to `ZOO`; the contract suite, conversion, the CLI, model cards and remote-code export read these lists.
"""

from dataclasses import dataclass

import transformers
from transformers import AutoConfig

from .backbones import BACKBONES, Backbone
from .core.design import Design
from .designs.compositions import modeling_compositions as compositions
from .designs.continuous import CONTINUOUS
from .designs.continuous import modeling_continuous as continuous
from .designs.dictionary import DICTIONARY
from .designs.dictionary import modeling_dictionary as dictionary
from .designs.monitor import MONITOR
from .designs.monitor import modeling_monitor as monitor
from .designs.multiscale import MULTISCALE
from .designs.multiscale import modeling_multiscale as multiscale
from .designs.oscillating import OSCILLATING
from .designs.oscillating import modeling_oscillating as oscillating
from .designs.positional import POSITIONAL
from .designs.positional import modeling_positional as positional
from .designs.resonant import RESONANT, RESONANT_PURE
from .designs.resonant import modeling_resonant as resonant
from .designs.semantic import SEMANTIC
from .designs.semantic import modeling_semantic as semantic
from .designs.synthesizer import SYNTHESIZER
from .designs.synthesizer import modeling_synthesizer as synthesizer


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


@dataclass(frozen=True)
class ZooModel:
    """One model type: a config class carrying one or more designs on a backbone, and its model classes."""

    config_class: type
    # Auto class name -> design model class.
    model_classes: dict[str, type]

    @classmethod
    def of(cls, config_class: type, *model_classes: type) -> "ZooModel":
        """The entry for `config_class`; each model class is filed under the Auto class of its stock parent."""
        stock_to_auto = {stock: auto for auto, stock in config_class.backbone.stock_classes.items()}
        by_auto = {}
        for model_class in model_classes:
            (auto,) = {stock_to_auto[base] for base in model_class.__mro__ if base in stock_to_auto} or {None}
            if auto is None:
                raise TypeError(
                    f"{model_class.__name__} extends none of {config_class.backbone.name}'s stock classes."
                )
            by_auto[auto] = model_class
        return cls(config_class, by_auto)

    @property
    def designs(self) -> tuple[Design, ...]:
        return self.config_class.designs

    @property
    def design(self) -> str:
        """The design name used by `hf-archs convert --design` ("a+b" for a composition)."""
        return "+".join(design.name for design in self.designs)

    @property
    def backbone(self) -> Backbone:
        return self.config_class.backbone

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def identity_setting(self) -> dict:
        return {k: v for design in self.designs for k, v in design.identity_for(self.backbone.name).items()}

    @property
    def active_setting(self) -> dict:
        return {k: v for design in self.designs for k, v in design.active.items()}

    @property
    def summary(self) -> str:
        return "; ".join(design.summary for design in self.designs)

    @property
    def math(self) -> str:
        return "\n\n".join(design.math for design in self.designs)

    @property
    def is_decoder(self) -> bool:
        return "AutoModelForCausalLM" in self.model_classes


ZOO: tuple[ZooModel, ...] = (
    ZooModel.of(
        semantic.SemanticLlamaConfig,
        semantic.SemanticLlamaModel,
        semantic.SemanticLlamaForCausalLM,
        semantic.SemanticLlamaForSequenceClassification,
    ),
    ZooModel.of(
        semantic.SemanticGemma3TextConfig,
        semantic.SemanticGemma3TextModel,
        semantic.SemanticGemma3ForCausalLM,
        semantic.SemanticGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        semantic.SemanticBertConfig,
        semantic.SemanticBertModel,
        semantic.SemanticBertForMaskedLM,
        semantic.SemanticBertForSequenceClassification,
        semantic.SemanticBertForTokenClassification,
    ),
    ZooModel.of(
        continuous.ContinuousBertConfig,
        continuous.ContinuousBertModel,
        continuous.ContinuousBertForMaskedLM,
        continuous.ContinuousBertForSequenceClassification,
        continuous.ContinuousBertForTokenClassification,
    ),
    ZooModel.of(
        resonant.ResonantLlamaConfig,
        resonant.ResonantLlamaModel,
        resonant.ResonantLlamaForCausalLM,
        resonant.ResonantLlamaForSequenceClassification,
    ),
    ZooModel.of(
        resonant.ResonantGemma3TextConfig,
        resonant.ResonantGemma3TextModel,
        resonant.ResonantGemma3ForCausalLM,
        resonant.ResonantGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        resonant.ResonantBertConfig,
        resonant.ResonantBertModel,
        resonant.ResonantBertForMaskedLM,
        resonant.ResonantBertForSequenceClassification,
        resonant.ResonantBertForTokenClassification,
    ),
    ZooModel.of(
        resonant.ResonantPureLlamaConfig,
        resonant.ResonantPureLlamaModel,
        resonant.ResonantPureLlamaForCausalLM,
        resonant.ResonantPureLlamaForSequenceClassification,
    ),
    ZooModel.of(
        resonant.ResonantPureGemma3TextConfig,
        resonant.ResonantPureGemma3TextModel,
        resonant.ResonantPureGemma3ForCausalLM,
        resonant.ResonantPureGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        resonant.ResonantPureBertConfig,
        resonant.ResonantPureBertModel,
        resonant.ResonantPureBertForMaskedLM,
        resonant.ResonantPureBertForSequenceClassification,
        resonant.ResonantPureBertForTokenClassification,
    ),
    ZooModel.of(
        oscillating.OscillatingLlamaConfig,
        oscillating.OscillatingLlamaModel,
        oscillating.OscillatingLlamaForCausalLM,
        oscillating.OscillatingLlamaForSequenceClassification,
    ),
    ZooModel.of(
        oscillating.OscillatingGemma3TextConfig,
        oscillating.OscillatingGemma3TextModel,
        oscillating.OscillatingGemma3ForCausalLM,
        oscillating.OscillatingGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        oscillating.OscillatingBertConfig,
        oscillating.OscillatingBertModel,
        oscillating.OscillatingBertForMaskedLM,
        oscillating.OscillatingBertForSequenceClassification,
        oscillating.OscillatingBertForTokenClassification,
    ),
    ZooModel.of(
        positional.PositionalLlamaConfig,
        positional.PositionalLlamaModel,
        positional.PositionalLlamaForCausalLM,
        positional.PositionalLlamaForSequenceClassification,
    ),
    ZooModel.of(
        positional.PositionalGemma3TextConfig,
        positional.PositionalGemma3TextModel,
        positional.PositionalGemma3ForCausalLM,
        positional.PositionalGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        positional.PositionalBertConfig,
        positional.PositionalBertModel,
        positional.PositionalBertForMaskedLM,
        positional.PositionalBertForSequenceClassification,
        positional.PositionalBertForTokenClassification,
    ),
    ZooModel.of(
        monitor.MonitorLlamaConfig,
        monitor.MonitorLlamaModel,
        monitor.MonitorLlamaForCausalLM,
        monitor.MonitorLlamaForSequenceClassification,
    ),
    ZooModel.of(
        monitor.MonitorGemma3TextConfig,
        monitor.MonitorGemma3TextModel,
        monitor.MonitorGemma3ForCausalLM,
        monitor.MonitorGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        multiscale.MultiscaleLlamaConfig,
        multiscale.MultiscaleLlamaModel,
        multiscale.MultiscaleLlamaForCausalLM,
        multiscale.MultiscaleLlamaForSequenceClassification,
    ),
    ZooModel.of(
        multiscale.MultiscaleGemma3TextConfig,
        multiscale.MultiscaleGemma3TextModel,
        multiscale.MultiscaleGemma3ForCausalLM,
        multiscale.MultiscaleGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        multiscale.MultiscaleBertConfig,
        multiscale.MultiscaleBertModel,
        multiscale.MultiscaleBertForMaskedLM,
        multiscale.MultiscaleBertForSequenceClassification,
        multiscale.MultiscaleBertForTokenClassification,
    ),
    ZooModel.of(
        compositions.SemanticContinuousMultiscaleBertConfig,
        compositions.SemanticContinuousMultiscaleBertModel,
        compositions.SemanticContinuousMultiscaleBertForMaskedLM,
        compositions.SemanticContinuousMultiscaleBertForSequenceClassification,
        compositions.SemanticContinuousMultiscaleBertForTokenClassification,
    ),
    ZooModel.of(
        synthesizer.SynthesizerLlamaConfig,
        synthesizer.SynthesizerLlamaModel,
        synthesizer.SynthesizerLlamaForCausalLM,
        synthesizer.SynthesizerLlamaForSequenceClassification,
    ),
    ZooModel.of(
        synthesizer.SynthesizerGemma3TextConfig,
        synthesizer.SynthesizerGemma3TextModel,
        synthesizer.SynthesizerGemma3ForCausalLM,
        synthesizer.SynthesizerGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        synthesizer.SynthesizerBertConfig,
        synthesizer.SynthesizerBertModel,
        synthesizer.SynthesizerBertForMaskedLM,
        synthesizer.SynthesizerBertForSequenceClassification,
        synthesizer.SynthesizerBertForTokenClassification,
    ),
    ZooModel.of(
        dictionary.DictionaryLlamaConfig,
        dictionary.DictionaryLlamaModel,
        dictionary.DictionaryLlamaForCausalLM,
        dictionary.DictionaryLlamaForSequenceClassification,
    ),
    ZooModel.of(
        dictionary.DictionaryGemma3TextConfig,
        dictionary.DictionaryGemma3TextModel,
        dictionary.DictionaryGemma3ForCausalLM,
        dictionary.DictionaryGemma3TextForSequenceClassification,
    ),
    ZooModel.of(
        dictionary.DictionaryBertConfig,
        dictionary.DictionaryBertModel,
        dictionary.DictionaryBertForMaskedLM,
        dictionary.DictionaryBertForSequenceClassification,
        dictionary.DictionaryBertForTokenClassification,
    ),
)


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
        if entry.design == design_name and entry.backbone.name == backbone:
            return entry
    have = sorted(entry.backbone.name for entry in ZOO if entry.design == design_name)
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
