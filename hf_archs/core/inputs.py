"""What the layers and the embeddings of a design model need from its inputs, prepared before the stock forward runs.

The stock forward and its signature stay untouched (Trainer and `generate()` read that signature); the base model's
`forward` only rewrites the call's keyword arguments first (`prepare_inputs_in_forward`):

1. positions for a position design (`core/positions.py`): `position_ids` computed per row from the attention mask
   when the caller gives none, and the backbone's adaptation of its inputs to float positions;
2. the batch's 2D padding mask, for layers that build their own mask (`core/masks.py`), as `PADDING_MASK_KWARG`,
   and a dict the layers share the masks they build in (`LAYER_MASKS_KWARG`);
3. every token's position, for logit terms whose features read positions (`core/attention.py`), as
   `TOKEN_POSITIONS_KWARG`: the caller's `position_ids`, or 0, 1, 2, ... after the cached tokens;
4. a side branch's call (`core/side_branch.py`): its memory keyword taken out of the stock arguments before, its
   fields added to the output after the stock forward.

Stock forwards hand extra keywords on to every layer, where the attention layer takes them out.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import MethodType

import torch
from torch import nn

from .compat import cache_argument
from .side_branch import begin_side_call, end_side_call


# The keyword that carries the batch's 2D padding mask (batch, keys), 1 = real token, to the attention layers.
PADDING_MASK_KWARG = "hf_archs_padding_mask"
# The keyword that carries a dict shared by the layers of one forward: the masks that layers with their own pattern
# built there (`core/masks.py`), so that the layers with one pattern and window build it once.
LAYER_MASKS_KWARG = "hf_archs_layer_masks"
# The keyword that carries every token's position (batch or 1, L) as floats to the attention layers.
TOKEN_POSITIONS_KWARG = "hf_archs_token_positions"
# The keyword that carries per-token features of the input ids (batch, L, r) to the layers (`core/feed_forward.py`).
TOKEN_FEATURES_KWARG = "hf_archs_token_features"


def bound_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict:
    """The keyword arguments of a call `forward(*args, **kwargs)`, positional ones named (heads call base models
    with `input_ids` positionally)."""
    bound = signature.bind(*args, **kwargs)
    arguments = dict(bound.arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
            arguments.update(arguments.pop(name))
    return arguments


def input_shape(arguments: dict) -> tuple[torch.Size, torch.device]:
    """(batch, L) of a call and its inputs' device, from `input_ids` or else `inputs_embeds`."""
    reference = arguments.get("input_ids")
    if reference is None:
        reference = arguments["inputs_embeds"][..., 0]
    return reference.shape, reference.device


def token_positions(arguments: dict) -> torch.Tensor:
    """(batch or 1, L) float positions of the call's tokens: its `position_ids`; else, with a 2D padding mask, each
    row's real tokens counted from 0 (left padding does not shift them: `generate()` positions rows the same way, and
    a row alone gets the positions it has in a padded batch); else the stock default (the tokens follow the cached
    ones; decoders build the same positions for RoPE from `cache_position`, which RoPE's relative form absorbs)."""
    position_ids = arguments.get("position_ids")
    if position_ids is not None:
        return position_ids.float().reshape(-1, position_ids.shape[-1])
    (_, length), device = input_shape(arguments)
    attention_mask = arguments.get("attention_mask")
    if isinstance(attention_mask, torch.Tensor) and attention_mask.dim() == 2:
        # The mask covers the cached tokens and these (decoders): count over both, keep these.
        counted = attention_mask.to(device=device, dtype=torch.long).cumsum(-1) - 1
        return counted[:, -length:].clamp(min=0).float()
    cache = cache_argument(arguments)
    past = cache.get_seq_length() if cache is not None else 0
    return torch.arange(past, past + length, device=device, dtype=torch.float32)[None]


def check_float_positions(arguments: dict, position_table: str | None) -> None:
    """Float `position_ids` (in place): NaN or infinite ones are refused (they would index past a table or spread NaN
    silently); with `position_table` (the path of the backbone's learned position table, kept because no design
    replaced it), they must be integers, which the table is indexed with: integer-valued floats become integers (the
    result of integer positions), fractional ones are refused."""
    position_ids = arguments.get("position_ids")
    if position_ids is None or not position_ids.is_floating_point():
        return
    # Not while compiling or exporting: reading a tensor's values is a data-dependent branch there (as in the
    # designs' own range checks).
    checked = not torch.compiler.is_compiling()
    if checked and not bool(torch.isfinite(position_ids).all()):
        raise ValueError("position_ids hold NaN or infinite values; positions must be finite numbers.")
    if position_table is None:
        return
    if checked and not bool((position_ids == position_ids.round()).all()):
        raise ValueError(
            f"This model's position embedding ({position_table}) is the backbone's learned table, which takes "
            "integer positions only; got fractional position_ids. Fractional positions need a position design "
            "that replaces the table."
        )
    arguments["position_ids"] = position_ids.long()


def mark_unpacked(arguments: dict) -> None:
    """Give float `position_ids` without an attention mask an all-ones mask: from Transformers 5.24 on, position ids
    without a mask (and without a cache) are read as packed sequences, a new one wherever the step is not 1, so
    fractional positions (0, 0.25, 0.5, ...) would put each token in a sequence of its own. Float positions are
    positions here, never packing boundaries."""
    position_ids = arguments.get("position_ids")
    if (
        isinstance(position_ids, torch.Tensor)
        and position_ids.is_floating_point()
        and arguments.get("attention_mask") is None
        and cache_argument(arguments) is None
    ):
        shape, device = input_shape(arguments)
        arguments["attention_mask"] = torch.ones(shape, dtype=torch.long, device=device)


def token_features(token_tables, input_ids: torch.Tensor | None) -> torch.Tensor:
    """The tables' features of the input ids (batch, L, r); several tables are concatenated."""
    if input_ids is None:
        raise ValueError(
            f"{[type(t).__name__ for t in token_tables]} read the input ids: call the model with input_ids, not "
            "inputs_embeds."
        )
    return torch.cat([table(input_ids) for table in token_tables], dim=-1)


@dataclass(frozen=True)
class InputPreparation:
    """What a design base model prepares from its inputs before the stock forward runs.

    position_encoding: path (in the base model) of a `PositionEncoding` asked for `position_ids` when the caller gives
        none, or None. A path, not the module: a deep copy of the model must ask its own module.
    position_table: path of the backbone's learned position table when no design replaced it (its positions must be
        integers: `check_float_positions`), or None.
    prepare_position_inputs: the backbone's adaptation of the keyword arguments to (float) positions, in place.
    pass_padding_mask: pass the 2D `attention_mask` (or whatever mask the caller gave, or None) to the layers; a mask
        that is not 2D travels too, and layers that build their own mask refuse it.
    pass_token_positions: pass every token's position to the layers.
    token_tables: paths (in the base model) of `TokenTable`s (`core/feed_forward.py`) whose per-token features of the
        input ids the layers get.
    side_branches: the base model has side branches (`core/side_branch.py`): open their call first (taking their
        memory keywords out of the arguments) and add their fields to the output (`finish`).
    """

    position_encoding: str | None = None
    position_table: str | None = None
    prepare_position_inputs: Callable[[dict], None] = lambda arguments: None
    pass_padding_mask: bool = False
    pass_token_positions: bool = False
    token_tables: tuple[str, ...] = ()
    side_branches: bool = False

    def apply(self, model: nn.Module, arguments: dict) -> dict:
        if self.side_branches:
            begin_side_call(model, arguments)
        if arguments.get("position_ids") is None and self.position_encoding is not None:
            shape, device = input_shape(arguments)
            encoding = model.get_submodule(self.position_encoding)
            arguments["position_ids"] = encoding.position_ids(arguments.get("attention_mask"), shape, device)
        check_float_positions(arguments, self.position_table)
        mark_unpacked(arguments)
        self.prepare_position_inputs(arguments)
        if self.pass_padding_mask:
            arguments[PADDING_MASK_KWARG] = arguments.get("attention_mask")
            arguments[LAYER_MASKS_KWARG] = {}
        if self.pass_token_positions:
            arguments[TOKEN_POSITIONS_KWARG] = token_positions(arguments)
        if self.token_tables:
            tables = [model.get_submodule(path) for path in self.token_tables]
            arguments[TOKEN_FEATURES_KWARG] = token_features(tables, arguments.get("input_ids"))
        return arguments

    def finish(self, model: nn.Module, output):
        """The stock forward's output, with the side branches' fields."""
        return end_side_call(model, output) if self.side_branches else output


def prepare_inputs_in_forward(base_model: nn.Module, preparation: InputPreparation) -> None:
    """Make the base model's `forward` apply `preparation` to its arguments first (and `preparation.finish` to its
    output).

    Not a forward pre-hook: hooks run only through `model(...)`, and callers such as sentence-transformers call
    `model.forward(...)` directly, which would skip them (layers building their own mask would then lose the padding,
    normalized positions would fall back to the stock ones). The wrapper is bound per instance, keeps the stock
    signature (what Trainer, generation and sentence-transformers inspect) and rebinds to the copy under
    `copy.deepcopy`.
    """
    stock_forward = type(base_model).forward
    signature = inspect.signature(stock_forward)
    base_model.hf_archs_input_preparation = preparation

    @functools.wraps(stock_forward)
    def forward(self, *args, **kwargs):
        arguments = bound_arguments(signature, (self, *args), kwargs)
        arguments.pop("self")
        preparation = self.hf_archs_input_preparation
        return preparation.finish(self, stock_forward(self, **preparation.apply(self, arguments)))

    base_model.forward = MethodType(forward, base_model)


__all__ = [
    "LAYER_MASKS_KWARG",
    "PADDING_MASK_KWARG",
    "TOKEN_FEATURES_KWARG",
    "TOKEN_POSITIONS_KWARG",
    "bound_arguments",
    "check_float_positions",
    "input_shape",
    "InputPreparation",
    "prepare_inputs_in_forward",
    "token_features",
    "token_positions",
]
