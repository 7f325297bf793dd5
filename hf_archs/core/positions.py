"""Position-encoding designs: a design module that replaces a backbone's position embedding at construction.

A design declares `Design.position_encoding`, a `PositionEncoding` subclass. When the design base model is built,
the module found at the backbone's `Backbone.position_embedding` path (BERT: `embeddings.position_embeddings`, the
learned table) is replaced by the design's module, which the stock embeddings then call with the position ids as
before. Two things reach positions the stock code does not provide:

- positions computed per row from the attention mask (e.g. normalized to [0, 1] over a row's tokens, so that padding
  on either side does not shift them): `PositionEncoding.position_ids` is asked for them when the caller passes no
  `position_ids`;
- float (fractional) `position_ids`: the stock forward of some families uses position ids as an index elsewhere
  (BERT gathers token type ids with them), which `Backbone.prepare_position_inputs` makes safe.

Both happen in a forward pre-hook of the design base model (`install_position_hook`), so the stock forward and its
signature stay untouched (Trainer and `generate()` read that signature).
"""

import inspect

import torch
from torch import nn


class PositionEncoding(nn.Module):
    """A design's position embedding: `forward(position_ids) -> (batch or 1, L, hidden)` added to the token embeddings.

    `position_ids` may be integer or float, shaped (L,), (1, L) or (batch, L). Subclasses define `forward` and
    `init_design_weights`; `position_ids` may return per-row positions computed from the attention mask.
    """

    # Marks modules holding a design's new parameters (weight init, conversion, LoRA `modules_to_save`).
    hf_archs_design_module = True

    def position_ids(self, attention_mask: torch.Tensor | None, input_shape: torch.Size) -> torch.Tensor | None:
        """Positions for a call without `position_ids`, or None to keep the backbone's default (stock positions).

        attention_mask: (batch, L) with 1 for tokens and 0 for padding, or None; input_shape: (batch, L).
        """
        return None

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


def replace_position_embedding(base_model: nn.Module, path: str, encoding: PositionEncoding) -> None:
    """Put `encoding` where the stock position embedding of `base_model` lives (`path`, e.g.
    "embeddings.position_embeddings")."""
    base_model.get_submodule(path)  # a clear error if the backbone has no module there
    base_model.set_submodule(path, encoding)


def _bound_arguments(forward, args: tuple, kwargs: dict) -> dict:
    """The keyword arguments of a call `forward(*args, **kwargs)`, positional ones named (heads call base models
    with `input_ids` positionally)."""
    signature = inspect.signature(forward)
    bound = signature.bind(*args, **kwargs)
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments


def install_position_hook(base_model: nn.Module, encoding: PositionEncoding | None, prepare_position_inputs) -> None:
    """Register the forward pre-hook that fills `position_ids` from `encoding.position_ids` (when the caller gives
    none) and lets the backbone adapt its inputs to float positions (`prepare_position_inputs(arguments)`)."""

    def hook(module, args, kwargs):
        arguments = _bound_arguments(module.forward, args, kwargs)
        if arguments.get("position_ids") is None and encoding is not None:
            reference = arguments.get("input_ids")
            if reference is None:
                reference = arguments["inputs_embeds"][..., 0]
            arguments["position_ids"] = encoding.position_ids(arguments.get("attention_mask"), reference.shape)
        prepare_position_inputs(arguments)
        return (), arguments

    base_model.register_forward_pre_hook(hook, with_kwargs=True)


__all__ = ["PositionEncoding", "install_position_hook", "replace_position_embedding"]
