"""The zoo: every design × backbone, what it is built from, and its registration with Transformers and PEFT.

Adding a design means adding its `ZooModel` entries here; the contract tests, conversion, the CLI and
remote-code export all read this list.
"""

from dataclasses import dataclass, field

import transformers
from transformers import AutoConfig

from .backbones import BACKBONES, BERT, LLAMA, Backbone
from .models import semantic_bert, semantic_llama


@dataclass(frozen=True)
class ZooModel:
    design: str
    backbone: Backbone
    config_class: type
    # Auto class name -> design model class.
    model_classes: dict[str, type]
    # Config fields of the design, with the value that makes the model compute the stock function.
    identity_setting: dict = field(default_factory=dict)
    # Config fields to set so the design's term is active (for tests and demos).
    active_setting: dict = field(default_factory=dict)
    summary: str = ""
    # The design's math, for model cards (markdown).
    math: str = ""

    @property
    def model_type(self) -> str:
        return self.config_class.model_type


SEMANTIC_SUMMARY = "attention logits + tau_h * cos(x_i, x_j): a learnable per-head pull towards similar tokens"
SEMANTIC_MATH = (
    "logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + tau_h · cos(x_i, x_j) (+ mask), where x is the attention "
    "input (after the input norm for Llama, the layer input for BERT) and cos is one L×L matrix shared by the heads "
    "of a layer. tau (`semantic_tau.weight`, one per head) is learned; tau = 0 is exactly the stock model."
)

SEMANTIC = dict(
    design="semantic",
    identity_setting={"semantic_tau_init": 0.0},
    active_setting={"semantic_tau_init": 0.5},
    summary=SEMANTIC_SUMMARY,
    math=SEMANTIC_MATH,
)

ZOO: tuple[ZooModel, ...] = (
    ZooModel(
        backbone=LLAMA,
        config_class=semantic_llama.SemanticLlamaConfig,
        model_classes={
            "AutoModel": semantic_llama.SemanticLlamaModel,
            "AutoModelForCausalLM": semantic_llama.SemanticLlamaForCausalLM,
            "AutoModelForSequenceClassification": semantic_llama.SemanticLlamaForSequenceClassification,
        },
        **SEMANTIC,
    ),
    ZooModel(
        backbone=BERT,
        config_class=semantic_bert.SemanticBertConfig,
        model_classes={
            "AutoModel": semantic_bert.SemanticBertModel,
            "AutoModelForMaskedLM": semantic_bert.SemanticBertForMaskedLM,
            "AutoModelForSequenceClassification": semantic_bert.SemanticBertForSequenceClassification,
            "AutoModelForTokenClassification": semantic_bert.SemanticBertForTokenClassification,
        },
        **SEMANTIC,
    ),
)

DESIGNS = tuple(sorted({entry.design for entry in ZOO}))


class UnknownDesignError(ValueError):
    pass


def check_design(design: str) -> None:
    if design not in DESIGNS:
        raise UnknownDesignError(f"Unknown design {design!r}; known designs: {list(DESIGNS)}.")


def zoo_model(design: str, backbone: str) -> ZooModel:
    check_design(design)
    for entry in ZOO:
        if entry.design == design and entry.backbone.name == backbone:
            return entry
    raise UnknownDesignError(f"Design {design!r} has no {backbone!r} backbone (have: {sorted(BACKBONES)}).")


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
    from .modules import design_model

    for entry in ZOO:
        AutoConfig.register(entry.model_type, entry.config_class, exist_ok=True)
        for auto_name, model_class in entry.model_classes.items():
            getattr(transformers, auto_name).register(entry.config_class, model_class, exist_ok=True)
        _register_with_peft(entry)
    design_model.REMOTE_CODE_EXPORTER = remote_code.RemoteCodeExporter()
