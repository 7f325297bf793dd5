"""An extra input to the feed-forward block of chosen layers (`Design.feed_forward_input`).

A design that feeds the FFN a second, per-token input (e.g. a frozen dictionary entry of each token) declares:

- a `TokenTable`: one module on the base model mapping the input ids to per-token features (batch, L, r), computed
  once per forward by the base model's input hook and handed to every layer as `TOKEN_FEATURES_KWARG`;
- a `FeedForwardInput`: one module per chosen layer, attached inside the layer's FFN module (the backbone's
  `Backbone.feed_forward` path), whose output is added to the FFN's input:

      FFN(x)  ->  FFN(x + FeedForwardInput(x, features))

  With its output zero (e.g. a zero-initialized projection) the layer is exactly the stock layer.

The stock modules and weight names are untouched: the layer hands its keyword arguments to its attention, where a
forward pre-hook takes the features out (the attention functions never see them; under gradient checkpointing the
replayed layer forward hands them again), and a forward pre-hook of the FFN module adds the new input. An FFN run on
slices of the sequence (BERT's `chunk_size_feed_forward`) gets the matching slice of the features at each call.
"""

import functools

import torch
from torch import nn

from .inputs import TOKEN_FEATURES_KWARG


class TokenTable(nn.Module):
    """Per-token features from the input ids, shared by every layer (a design module of the base model)."""

    hf_archs_design_module = True
    attribute_name: str

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(batch, L) token ids -> (batch, L, r) features."""
        raise NotImplementedError

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


class FeedForwardInput(nn.Module):
    """The addition to one layer's FFN input, from that input and the tokens' features (a design module).

    `token_table` names the `TokenTable` class whose features this module reads.
    """

    hf_archs_design_module = True
    attribute_name: str
    token_table: type

    def forward(self, ffn_input: torch.Tensor, token_features: torch.Tensor) -> torch.Tensor:
        """(batch, L, hidden), (batch, L, r) -> (batch, L, hidden) added to the FFN input."""
        raise NotImplementedError

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


class _PendingFeatures:
    """One layer's token features, from its attention's call to its FFN's. The FFN may run on slices of the sequence
    (BERT's `chunk_size_feed_forward`, one call per slice, in order): `offset` is where the next slice starts."""

    features: torch.Tensor | None = None
    offset: int = 0


# The hooks are bound to their layer's `_PendingFeatures` with `functools.partial`, never a closure: `copy.deepcopy`
# copies a partial's arguments with the model, so a copy's hooks share a state of their own.
def _take_features(pending: _PendingFeatures, attention, args, kwargs):
    pending.features, pending.offset = kwargs.pop(TOKEN_FEATURES_KWARG, None), 0
    return args, kwargs


def _release_features(pending: _PendingFeatures, feed_forward, args, output):
    if pending.features is None or pending.offset >= pending.features.shape[-2]:
        pending.features = None


def _add_input(pending: _PendingFeatures, attribute_name: str, feed_forward, args):
    features = pending.features
    # Looked up at each call, not captured: PEFT's `modules_to_save` swaps in a wrapper holding the trained copy.
    side_input = getattr(feed_forward, attribute_name)
    if features is None:
        raise ValueError(
            f"{attribute_name!r} needs the tokens' features: call the model with input_ids (its base model "
            "computes them), not a layer or the FFN on its own."
        )
    (ffn_input, *rest) = args
    start, length = pending.offset, ffn_input.shape[-2]
    if start + length > features.shape[-2]:
        raise ValueError(
            f"{attribute_name!r}: the FFN input covers positions {start}..{start + length - 1}, but the tokens' "
            f"features cover {features.shape[-2]} positions."
        )
    pending.offset = start + length
    features = features[..., start : start + length, :].to(ffn_input.dtype)
    return (ffn_input + side_input(ffn_input, features), *rest)


def attach_feed_forward_inputs(base_model: nn.Module, design, feed_forward_path: str | None) -> TokenTable:
    """Build `design.feed_forward_input` into the design's layers of `base_model`; return the token table.

    feed_forward_path: the backbone's path of a layer's FFN module, with `{}` for the layer index (e.g.
    "layers.{}.mlp"); the layer is the module above it.
    """
    if feed_forward_path is None:
        raise ValueError(f"The {base_model.config.backbone.name} backbone declares no feed-forward module path.")
    input_class = design.feed_forward_input
    table = input_class.token_table(base_model.config)
    base_model.add_module(table.attribute_name, table)
    for layer_idx in design.layer_indices(base_model.config):
        path = feed_forward_path.format(layer_idx)
        feed_forward = base_model.get_submodule(path)
        layer = base_model.get_submodule(path.rsplit(".", 1)[0])
        side_input = input_class(base_model.config)
        feed_forward.add_module(side_input.attribute_name, side_input)
        pending = _PendingFeatures()
        # The layer's attention takes the features out of the keywords the layer hands it (a hook of the layer itself
        # would run outside Transformers' gradient checkpointing, which replays only the layer's forward).
        # By its methods, not isinstance: code loaded with trust_remote_code may hold another copy of the class.
        attention = next(module for module in layer.modules() if callable(getattr(module, "logit_terms", None)))
        attention.register_forward_pre_hook(functools.partial(_take_features, pending), with_kwargs=True)
        feed_forward.register_forward_pre_hook(functools.partial(_add_input, pending, side_input.attribute_name))
        feed_forward.register_forward_hook(functools.partial(_release_features, pending))
    return table


__all__ = ["TOKEN_FEATURES_KWARG", "FeedForwardInput", "TokenTable", "attach_feed_forward_inputs"]
