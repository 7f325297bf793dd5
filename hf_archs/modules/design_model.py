"""What every design model adds to its stock Transformers class.

A design model is `class DesignXModel(DesignPreTrainedModel, StockXModel)`: the stock class builds the stock
network, then `post_init` swaps in the design's layers (`design_module_for`) before weights are initialized. So
every stock head (`...ForCausalLM`, `...ForMaskedLM`, ...) becomes a design model with no code of its own, and
weight names stay stock (PEFT targets, conversion by state-dict copy).
"""

from collections.abc import Callable

from torch import nn
from transformers import PreTrainedModel


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


class DesignPreTrainedModel:
    """Mixin placed before the stock `PreTrainedModel` subclass."""

    # The stock flash/flex kernels cannot add a design's term: refuse them instead of silently dropping it.
    _supports_flash_attn = False
    _supports_flex_attn = False
    _supports_sdpa = True
    _supports_attention_backend = True
    # `DesignAttentionInterface` of the design: the attn_implementation keys it accepts.
    design_attention_functions = None

    def design_module_for(self, module: nn.Module) -> nn.Module | None:
        """The design's replacement for a stock submodule, or None to keep it."""
        raise NotImplementedError

    def design_base_model_class(self) -> type:
        """The design's base model class (e.g. SemanticLlamaModel)."""
        raise NotImplementedError

    def post_init(self):
        # Stock __init__ methods end with post_init(): the whole stock network exists now, nothing is initialized.
        for name, module in list(self.named_modules()):
            if (
                module is not self
                and isinstance(module, PreTrainedModel)
                and not isinstance(module, DesignPreTrainedModel)
            ):
                # The stock base model inside a stock head (LlamaForCausalLM.model): Transformers initializes its
                # weights with its own `_init_weights`, which must know the design's parameters. Same state, so only
                # the class changes.
                module.__class__ = self.design_base_model_class()
            replacement = self.design_module_for(module)
            if replacement is not None:
                self.set_submodule(name, replacement)
        super().post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if is_design_module(module):
            module.init_design_weights(self.config)

    def get_correct_attn_implementation(self, requested_attention: str | None, is_init_check: bool = False) -> str:
        accepted = self.design_attention_functions
        if requested_attention is not None and requested_attention not in accepted:
            raise ValueError(
                f"{type(self).__name__} cannot use attn_implementation={requested_attention!r}: the stock kernel "
                f"would silently drop the {accepted.design} term. Supported: {sorted(accepted)}."
            )
        return super().get_correct_attn_implementation(requested_attention, is_init_check)

    def save_pretrained(self, save_directory, *args, **kwargs):
        exporter = REMOTE_CODE_EXPORTER if self._auto_class is None else None
        if exporter is not None:
            self.config.auto_map = exporter.auto_map(self.config)
        super().save_pretrained(save_directory, *args, **kwargs)
        if exporter is not None and kwargs.get("is_main_process", True):
            exporter.write_code(self.config, save_directory)
