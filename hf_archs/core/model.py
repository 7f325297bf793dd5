"""What every design model adds to its stock Transformers classes.

A design model type is a config class and a few model classes (generated from the declarations by
`core/model_types.py`, as if written):

    class SemanticLlamaConfig(DesignConfig, LlamaConfig, SemanticFields): designs = (SEMANTIC,); backbone = LLAMA
    class SemanticLlamaPreTrainedModel(DesignPreTrainedModel, LlamaPreTrainedModel): design_base_model = ...
    class SemanticLlamaModel(SemanticLlamaPreTrainedModel, LlamaModel): pass
    class SemanticLlamaForCausalLM(SemanticLlamaPreTrainedModel, LlamaForCausalLM): pass

The stock classes build the stock network. The design base model then swaps each stock attention layer for the
backbone's `DesignAttention` (same parameter names) and attaches each design's parts, before any weight is
initialized or loaded. A stock head builds its base model as the *design* base model (`_building_design_base`), so
every head class is a design model with no code of its own, and weight names stay stock (PEFT targets, conversion
by state-dict copy).
"""

import re
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager

from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .design import check_design_keys
from .feed_forward import attach_feed_forward_inputs
from .inputs import InputPreparation, prepare_inputs_in_forward
from .layers import install_layer_extensions
from .masks import set_mask_pattern
from .positions import drop_rotary_embedding, replace_position_embedding
from .side_branch import install_side_branches, install_side_outputs_on_head


# Set by `hf_archs` on import: writes the self-contained code files and `auto_map` next to saved weights so that
# `trust_remote_code=True` loads them without hf_archs. Code loaded that way leaves it None: Transformers then
# re-saves the (already flat) files itself through `_auto_class`.
REMOTE_CODE_EXPORTER: Callable | None = None


def is_design_module(module: nn.Module) -> bool:
    """Modules holding a design's new parameters mark their class with `hf_archs_design_module = True`."""
    return getattr(type(module), "hf_archs_design_module", False) is True


def design_parameter_names(model: nn.Module) -> set[str]:
    """Full names of the parameters a design adds to its stock model (those of its marked modules)."""
    return {
        f"{name}.{param_name}" if name else param_name
        for name, module in model.named_modules()
        if is_design_module(module)
        for param_name, _ in module.named_parameters()
    }


def design_state_names(model: nn.Module) -> set[str]:
    """Full names of the parameters and buffers of a design's marked modules (e.g. a frozen table a design adds)."""
    return design_parameter_names(model) | {
        f"{name}.{buffer_name}" if name else buffer_name
        for name, module in model.named_modules()
        if is_design_module(module)
        for buffer_name, _ in module.named_buffers()
    }


class DesignConfig:
    """Mixin placed before a stock config class: the designs it carries, their fields checked, unknown keys refused."""

    designs: tuple = ()
    backbone = None

    def validate_architecture(self):
        super().validate_architecture()
        check_design_keys(self, self.designs)
        for design in self.designs:
            design.fields.validate_design_fields(self)
        self.backbone.validate_config(self)


_BUILD_LOCK = threading.RLock()


@contextmanager
def _building_design_base(stock_base: type, design_base: type):
    """While a stock head's `__init__` runs, its module-level name of the stock base model (e.g. `LlamaModel` in
    `modeling_llama`) resolves to the design base model, so the head builds the design base directly.

    Why not build the stock base and change its class afterwards: Transformers keeps per-class state keyed by the
    class name (output capturing for `output_hidden_states`/`output_attentions`), which a class swap leaves stale.
    Heads built through `AutoModel.from_config` (Transformers' generic heads) need no help.
    """
    module = sys.modules[stock_base.__module__]
    name = stock_base.__name__
    with _BUILD_LOCK:
        original = getattr(module, name)
        setattr(module, name, design_base)
        try:
            yield
        finally:
            setattr(module, name, original)


def _refusal(design, config) -> str | None:
    """Why `config` rules out the design's kernels, or None (`Design.kernels_refused_by`)."""
    return design.kernels_refused_by(config) if design.kernels_refused_by is not None else None


def _is_stock_attention_kernel(key: str) -> bool:
    """A key naming an attention kernel of Transformers (registered, e.g. flash or flex attention, or paged), or of
    the Hub (`org/name`, loaded through the `kernels` library): real kernels that compute the stock attention only."""
    return (
        key in ALL_ATTENTION_FUNCTIONS.valid_keys()
        or key.startswith("paged|")
        or re.fullmatch(r"flash_attention_\d+", key) is not None
        or "/" in key
    )


def accepts_flex_attention(designs) -> bool:
    """Transformers' flex kernel computes a model of `designs`: each of them changes its layers' masks at most
    (`Capabilities.flex_attention`), which the layers give the kernel as block masks (`core/masks.py`)."""
    return bool(designs) and all(design.capabilities.flex_attention for design in designs)


class DesignPreTrainedModel:
    """Mixin placed before the stock `...PreTrainedModel` of a design model type."""

    # The stock flash/flex kernels cannot add a design's logit terms: refuse them instead of silently dropping them.
    # A model type whose designs only change masks supports flex (set per model type, `core/model_types.py`).
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_sdpa = True
    _supports_attention_backend = True
    # The model type's base model class (e.g. `SemanticLlamaModel`), which its heads build.
    design_base_model: type | None = None

    def __init__(self, config, *args, **kwargs):
        design_base = self.design_base_model
        if isinstance(self, design_base):
            super().__init__(config, *args, **kwargs)
            return
        with _building_design_base(config.backbone.stock_base_class, design_base):
            super().__init__(config, *args, **kwargs)
        built = getattr(self, self.base_model_prefix)
        if type(built) is not design_base:
            raise RuntimeError(
                f"{type(self).__name__} built a {type(built).__name__} base model instead of {design_base.__name__}: "
                "this version of Transformers builds heads differently from what hf-archs supports."
            )

    def post_init(self):
        # Stock __init__ methods end with post_init(): the whole stock network exists, nothing is initialized yet.
        if isinstance(self, self.design_base_model):
            self._build_designs()
        elif any(design.side_branch for design in self.config.designs):
            install_side_outputs_on_head(self)
        super().post_init()

    def _build_designs(self):
        layers = self.config.backbone.swap_in_design_attention(self)
        for design in self.config.designs:
            if design.logit_term is None:
                continue
            for layer_idx in design.layer_indices(self.config):
                layers[layer_idx].add_logit_term(design.logit_term.attribute_name, design.logit_term(self.config))
        encoding = self._build_position_encoding()
        self._build_rotary()
        has_patterns = self._build_layer_masks(layers)
        token_tables = [
            attach_feed_forward_inputs(self, design, self.config.backbone.feed_forward)
            for design in self.config.designs
            if design.feed_forward_input is not None
        ]
        if len(token_tables) > 1:
            raise ValueError(f"{type(self).__name__}: at most one design may add a feed-forward input.")
        preparation = InputPreparation(
            position_encoding=self.config.backbone.position_embedding if encoding is not None else None,
            position_table=self.config.backbone.position_embedding if encoding is None else None,
            prepare_position_inputs=self.config.backbone.prepare_position_inputs,
            pass_padding_mask=has_patterns,
            pass_token_positions=any(term.uses_positions for layer in layers for term in layer.logit_terms()),
            token_tables=tuple(table.attribute_name for table in token_tables),
            side_branches=any(design.side_branch for design in self.config.designs),
        )
        prepare_inputs_in_forward(self, preparation)
        # After the stock layers got their parts: the extensions' inner layers are not stock layers (no logit terms,
        # no mask patterns of their own).
        install_layer_extensions(self, self.config.backbone, self.config.designs)
        self._build_side_branches()
        for design in self.config.designs:
            if design.finish_base_model is not None:
                design.finish_base_model(self)

    def _build_side_branches(self):
        """Side branches (`core/side_branch.py`) read the outputs of the layers they name through hooks."""
        branches = [design.side_branch(self.config) for design in self.config.designs if design.side_branch]
        if branches:
            install_side_branches(self, branches, self.get_submodule(self.config.backbone.layers))

    def _build_position_encoding(self):
        """A position design's module replaces the backbone's position embedding (returned, or None); the input
        preparation feeds it positions and makes float positions safe for the backbone (on every design base model)."""
        backbone = self.config.backbone
        encodings = [
            design.position_encoding
            for design in self.config.designs
            if design.position_encoding
            and (design.position_encoding_when is None or design.position_encoding_when(self.config))
        ]
        if len(encodings) > 1:
            raise ValueError(f"{type(self).__name__}: at most one design may replace the position embedding.")
        encoding = None
        if encodings:
            if backbone.position_embedding is None:
                raise ValueError(f"The {backbone.name} backbone has no learned position embedding to replace.")
            encoding = encodings[0](self.config)
            replace_position_embedding(self, backbone.position_embedding, encoding)
        return encoding

    def _build_rotary(self) -> None:
        """A design whose `keeps_rotary(config)` is False turns the backbone's rotary embedding into the identity."""
        if all(design.keeps_rotary is None or design.keeps_rotary(self.config) for design in self.config.designs):
            return
        path = self.config.backbone.rotary_embedding
        if path is None:
            raise ValueError(f"The {self.config.backbone.name} backbone has no rotary embedding to turn off.")
        drop_rotary_embedding(self, path)

    def _build_layer_masks(self, layers) -> bool:
        """Per-layer mask patterns (`core/masks.py`): set on their layers, which then need the batch's 2D padding
        mask, passed on by the input preparation of this base model. Returns whether any layer has a pattern."""
        patterns = {}
        for design in self.config.designs:
            if design.layer_masks is not None:
                patterns.update(design.layer_masks(self.config))
        for layer_idx, pattern in patterns.items():
            set_mask_pattern(layers[layer_idx], pattern)
        return bool(patterns)

    def layers_that_cannot_decode(self) -> list[str]:
        """The attention layers whose mask is not causal, as "index (pattern)": with any of them the model cannot
        decode left to right with a KV cache (a new token would change the states of the tokens before it)."""
        return [
            f"{module.layer_idx} ({module.mask_pattern.name})"
            for module in self.modules()
            if getattr(module, "mask_pattern", None) is not None and not module.mask_pattern.is_causal
        ]

    def generate(self, *args, **kwargs):
        """`GenerationMixin.generate`, refused with a KV cache when some layer is not causal (`use_cache=False`
        recomputes the whole sequence at every step, each layer with its own pattern)."""
        generation_config = kwargs.get("generation_config") or getattr(self, "generation_config", None)
        use_cache = kwargs.get("use_cache", getattr(generation_config, "use_cache", True))
        blocking = self.layers_that_cannot_decode()
        if blocking and use_cache is not False:
            raise ValueError(
                f"{type(self).__name__} cannot decode left to right with a KV cache: layers {', '.join(blocking)} are "
                "not causal, so every new token would change the states of the tokens before it. Use it as an "
                "encoder (embeddings, masked LM), or call generate(..., use_cache=False) to recompute the whole "
                "sequence at every step."
            )
        return super().generate(*args, **kwargs)

    def _init_weights(self, module):
        super()._init_weights(module)
        if is_design_module(module):
            module.init_design_weights(self.config)

    @classmethod
    def accepted_attn_implementations(cls, config) -> list[str]:
        """`attn_implementation` keys that compute the design: the reference paths, Transformers' flex kernel where
        the designs only change masks, and the designs' kernels."""
        flex = ["flex_attention"] if accepts_flex_attention(config.designs) else []
        kernels = [
            key for design in config.designs for key in design.capabilities.kernels if not _refusal(design, config)
        ]
        return ["eager", "sdpa", *flex, *kernels]

    def _refuse_attn_implementation(self, requested_attention: str, accepted: list[str]):
        for design in self.config.designs:
            reason = _refusal(design, self.config)
            if reason and requested_attention in design.capabilities.kernels:
                raise ValueError(
                    f"{type(self).__name__} cannot use attn_implementation={requested_attention!r}: {reason}. "
                    f"Supported: {accepted}."
                )
        if not _is_stock_attention_kernel(requested_attention):
            # Stock wording for a bogus key (callers and Transformers' own tests match its start).
            raise ValueError(
                f'Specified `attn_implementation="{requested_attention}"` is not supported: {requested_attention!r} '
                f"is not a known attention implementation. {type(self).__name__} supports {accepted}."
            )
        designs = ", ".join(design.name for design in self.config.designs)
        raise ValueError(
            f"{type(self).__name__} cannot use attn_implementation={requested_attention!r}: the stock kernel "
            f"would silently drop the {designs} design's attention term. Supported: {accepted}."
        )

    def _check_and_adjust_attn_implementation(self, attn_implementation, *args, **kwargs):
        # Transformers loads a Hub kernel ("org/name") here, before it asks `get_correct_attn_implementation`.
        accepted = self.accepted_attn_implementations(self.config)
        if isinstance(attn_implementation, str) and "/" in attn_implementation and attn_implementation not in accepted:
            self._refuse_attn_implementation(attn_implementation, accepted)
        return super()._check_and_adjust_attn_implementation(attn_implementation, *args, **kwargs)

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        accepted = self.accepted_attn_implementations(self.config)
        if requested_attention is not None and requested_attention not in accepted:
            self._refuse_attn_implementation(requested_attention, accepted)
        if requested_attention in ("eager", "sdpa", "flex_attention", None):
            return super().get_correct_attn_implementation(requested_attention, is_init_check)
        return requested_attention

    def save_pretrained(self, save_directory, *args, **kwargs):
        exporter = REMOTE_CODE_EXPORTER if self._auto_class is None else None
        if exporter is not None:
            self.config.auto_map = exporter.auto_map(self.config)
        super().save_pretrained(save_directory, *args, **kwargs)
        if exporter is not None and kwargs.get("is_main_process", True):
            exporter.write_code(self.config, save_directory)
