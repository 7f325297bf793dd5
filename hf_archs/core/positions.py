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

Both happen in the input preparation of the design base model (`core/inputs.py`), so the stock forward and its
signature stay untouched (Trainer and `generate()` read that signature). Every design model gets the hook: float
position ids work on every zoo model type whose positions are continuous (RoPE on the decoders, with
`float_positions_are_coordinates`; a design's `PositionEncoding`). Where the backbone's learned table stays (BERT
without a position design), a table is indexed by integers: integer-valued float positions give the integer
positions' result, fractional ones are refused (`core.inputs.check_float_positions`), as are NaN and infinite ones
everywhere.
"""

import torch
from torch import nn

from .compat import cache_argument
from .inputs import input_shape


class PositionEncoding(nn.Module):
    """A design's position embedding: `forward(position_ids) -> (batch or 1, L, hidden)` added to the token embeddings.

    `position_ids` may be integer or float, shaped (L,), (1, L) or (batch, L). Subclasses define `forward` and
    `init_design_weights`; `position_ids` may return per-row positions computed from the attention mask.
    """

    # Marks modules holding a design's new parameters (weight init, conversion, LoRA `modules_to_save`).
    hf_archs_design_module = True

    def position_ids(
        self, attention_mask: torch.Tensor | None, input_shape: torch.Size, device
    ) -> torch.Tensor | None:
        """Positions for a call without `position_ids`, or None to keep the backbone's default (stock positions).

        attention_mask: (batch, L) with 1 for tokens and 0 for padding, or None; input_shape: (batch, L); device: the
        inputs' device (not the module's: a copied model's hook may still hold the original module).
        """
        return None

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


def replace_position_embedding(base_model: nn.Module, path: str, encoding: PositionEncoding) -> None:
    """Put `encoding` where the stock position embedding of `base_model` lives (`path`, e.g.
    "embeddings.position_embeddings")."""
    base_model.get_submodule(path)  # a clear error if the backbone has no module there
    base_model.set_submodule(path, encoding)


def float_positions_are_coordinates(arguments: dict) -> None:
    """`prepare_position_inputs` of decoders whose base model builds its mask with `create_causal_mask`.

    Without an attention mask and a cache (training), `create_causal_mask` reads position steps other than 1 as the
    starts of packed sequences, so fractional positions (0, 0.5, 1, ...) would cut every token off from the others.
    Float `position_ids` are coordinates, never sequence boundaries: they get an all-ones mask, which is the
    function of a call without padding. Integer position ids keep the stock packed-sequence reading.
    """
    position_ids = arguments.get("position_ids")
    if position_ids is None or not position_ids.is_floating_point():
        return
    if arguments.get("attention_mask") is not None or cache_argument(arguments) is not None:
        return
    shape, device = input_shape(arguments)
    arguments["attention_mask"] = torch.ones(shape, dtype=torch.long, device=device)


class IdentityRotary(nn.Module):
    """A rotary embedding turned into the identity: the wrapped module's (cos, sin) shapes and dtype, with cos = 1 and
    sin = 0, so every layer's q and k leave `apply_rotary_pos_emb` unrotated (q·k no longer sees positions).

    The stock module stays inside (its buffers are not saved: `inv_freq` is non-persistent), so the call signature of
    every family (Gemma 3 passes a layer type) keeps working."""

    def __init__(self, rotary: nn.Module):
        super().__init__()
        self.rotary = rotary

    def forward(self, *args, **kwargs):
        cos, sin = self.rotary(*args, **kwargs)
        return torch.ones_like(cos), torch.zeros_like(sin)


def drop_rotary_embedding(base_model: nn.Module, path: str) -> None:
    """Replace the rotary embedding at `path` of `base_model` (e.g. "rotary_emb") by `IdentityRotary`."""
    base_model.set_submodule(path, IdentityRotary(base_model.get_submodule(path)))


__all__ = [
    "IdentityRotary",
    "PositionEncoding",
    "drop_rotary_embedding",
    "float_positions_are_coordinates",
    "replace_position_embedding",
]
