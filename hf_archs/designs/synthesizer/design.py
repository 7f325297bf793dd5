"""The synthesizer design, declared once: config fields, identity/active settings, capabilities, the logit term."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from ...core.attention import MAX_EXACT_POSITION, POSITION_FEATURES, LogitTerm, decode_positions, encode_positions
from ...core.design import Capabilities, Design, DesignFields, check_layer_indices, layers_in_field


KINDS = ("dense", "random", "dense+random")


@dataclass(kw_only=True)
class SynthesizerFields(DesignFields):
    """Config fields of synthesizer attention.

    synthesizer_kind: "dense" (logits from a feed-forward net of the query token), "random" (a learned table per
        position pair) or "dense+random" (both, each with its own per-head weight).
    synthesizer_weight_init: initial per-head mixing weight of each kind; 0.0 is the identity setting.
    synthesizer_max_positions: M, the number of absolute positions the synthesized logits cover (positions ≥ M are
        refused). None (the default) takes the backbone's context, `max_position_embeddings` (at most
        MAX_EXACT_POSITION), so the converted model takes every input its stock model was made for; a smaller M saves
        parameters (heads·M per layer for the dense kind, heads·M² for the random one). Decoders with RoPE run past
        `max_position_embeddings` (e.g. with RoPE scaling); the synthesized logits cannot, by construction.
    synthesizer_hidden_size: r, the hidden width of the dense kind's feed-forward net (cached per token).
    synthesizer_layers: indices of the layers that get the term; None means every layer.
    """

    synthesizer_kind: str = "dense"
    synthesizer_weight_init: float = 0.0
    synthesizer_max_positions: int | None = None
    synthesizer_hidden_size: int = 16
    synthesizer_layers: list[int] | None = None

    def validate_design_fields(self):
        if self.synthesizer_kind not in KINDS:
            raise ValueError(f"synthesizer_kind={self.synthesizer_kind!r} must be one of {KINDS}.")
        # Positions ride in the KV cache (`encode_positions`), exact up to MAX_EXACT_POSITION in every dtype.
        if not 1 <= synthesizer_positions(self) <= MAX_EXACT_POSITION:
            raise ValueError(
                f"synthesizer_max_positions must be in [1, {MAX_EXACT_POSITION}] (None: max_position_embeddings), got "
                f"{self.synthesizer_max_positions} (max_position_embeddings={self.max_position_embeddings})."
            )
        if self.synthesizer_hidden_size < 1:
            raise ValueError("synthesizer_hidden_size must be ≥ 1.")
        if not abs(self.synthesizer_weight_init) < float("inf"):
            raise ValueError("synthesizer_weight_init must be finite.")
        check_layer_indices("synthesizer_layers", self.synthesizer_layers, self.num_hidden_layers)


def synthesizer_positions(config) -> int:
    """M: `synthesizer_max_positions`, or by default the backbone's `max_position_embeddings` (capped at
    MAX_EXACT_POSITION, the last position the KV cache carries exactly). Configs saved with an explicit M keep it."""
    if config.synthesizer_max_positions is not None:
        return config.synthesizer_max_positions
    return min(config.max_position_embeddings, MAX_EXACT_POSITION)


def check_positions(positions: torch.Tensor, max_positions: int) -> None:
    """Refuse positions the synthesized logits do not cover (a clear error instead of an index error). Not while
    compiling or exporting, where reading a tensor's value is a data-dependent branch (as in the other designs)."""
    if torch.compiler.is_compiling():
        return
    if not bool(((positions >= 0) & (positions <= max_positions - 1)).all()):
        raise ValueError(
            f"Synthesizer attention covers positions 0 ... {max_positions - 1} (synthesizer_max_positions="
            f"{max_positions}); got positions in [{positions.min().item()}, {positions.max().item()}]. Use shorter "
            "inputs or a model converted with a larger synthesizer_max_positions."
        )


def neighbours(positions: torch.Tensor, max_positions: int):
    """Linear interpolation between integer positions: (lower index, upper index, weight of the upper one)."""
    lower = positions.floor().clamp(0, max_positions - 1)
    upper = (lower + 1).clamp(max=max_positions - 1)
    return lower.long(), upper.long(), positions - lower


def gather_at_keys(rows: torch.Tensor, key_positions: torch.Tensor, max_positions: int) -> torch.Tensor:
    """rows (batch, heads, Lq, M) of logits over positions -> (batch, heads, Lq, Lk) at the keys' positions."""
    lower, upper, fraction = neighbours(key_positions, max_positions)
    batch, heads, length, _ = rows.shape
    shape = (batch, heads, length, key_positions.shape[-1])
    low = rows.gather(-1, lower[:, None, None, :].expand(shape))
    high = rows.gather(-1, upper[:, None, None, :].expand(shape))
    return low + fraction[:, None, None, :].to(rows.dtype) * (high - low)


class SynthesizerTerm(LogitTerm):
    """a_h · D_h(i, j) + b_h · R_h(i, j) on one layer (the kinds of `synthesizer_kind`).

    Features per token: the position p (`encode_positions`, exact in the KV cache's dtype) and, for the dense kind,
    the first layer's pre-activations W1·x + b1 (the key side reads only the positions). Attached to the attention
    layer as `synthesizer`, so PEFT trains and saves it with an adapter (`modules_to_save=["synthesizer"]`).
    """

    attribute_name = "synthesizer"
    uses_positions = True

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.max_positions = synthesizer_positions(config)
        self.dense = "dense" in config.synthesizer_kind
        self.random = "random" in config.synthesizer_kind
        heads, positions = self.num_heads, self.max_positions
        self.num_features = POSITION_FEATURES
        if self.dense:
            self.num_features += config.synthesizer_hidden_size
            self.dense_in = nn.Linear(config.hidden_size, config.synthesizer_hidden_size)
            self.dense_out = nn.Linear(config.synthesizer_hidden_size, heads * positions)
            self.dense_weight = nn.Parameter(torch.full((heads,), float(config.synthesizer_weight_init)))
        if self.random:
            self.table = nn.Parameter(torch.zeros(heads, positions, positions))
            self.random_weight = nn.Parameter(torch.full((heads,), float(config.synthesizer_weight_init)))

    def features(self, hidden_states, positions=None):
        check_positions(positions, self.max_positions)
        features = encode_positions(positions.expand(hidden_states.shape[0], -1), hidden_states.dtype)
        if self.dense:
            features = torch.cat([features, self.dense_in(hidden_states)], dim=-1)
        return features

    def bias(self, query_features, key_features, dtype):
        key_positions = decode_positions(key_features[..., :POSITION_FEATURES])
        total = 0.0
        if self.dense:
            batch, length, _ = query_features.shape
            logits = self.dense_out(torch.relu(query_features[..., POSITION_FEATURES:]))  # (batch, Lq, heads · M)
            rows = logits.view(batch, length, self.num_heads, self.max_positions).transpose(1, 2)
            total = total + self.dense_weight.view(1, -1, 1, 1) * gather_at_keys(
                rows, key_positions, self.max_positions
            )
        if self.random:
            query_positions = decode_positions(query_features[..., :POSITION_FEATURES])
            lower, upper, fraction = neighbours(query_positions, self.max_positions)
            # T[h, p_i, :] interpolated over the query position: (heads, batch, Lq, M) -> (batch, heads, Lq, M)
            low, high = self.table[:, lower].transpose(0, 1), self.table[:, upper].transpose(0, 1)
            rows = low + fraction[:, None, :, None].to(low.dtype) * (high - low)
            total = total + self.random_weight.view(1, -1, 1, 1) * gather_at_keys(
                rows, key_positions, self.max_positions
            )
        return total.to(dtype)

    def init_design_weights(self, config):
        weight = config.synthesizer_weight_init
        if self.dense:
            init.constant_(self.dense_weight, weight)
            # Unit-variance logits from a normalized attention input.
            init.normal_(self.dense_in.weight, std=config.hidden_size**-0.5)
            init.zeros_(self.dense_in.bias)
            init.normal_(self.dense_out.weight, std=config.synthesizer_hidden_size**-0.5)
            init.zeros_(self.dense_out.bias)
        if self.random:
            init.constant_(self.random_weight, weight)
            init.normal_(self.table, std=1.0)

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, max_positions={self.max_positions}, dense={self.dense}, random={self.random}"


MATH = """\
Synthesizer attention (Tay et al. 2020, "Synthesizer: Rethinking Self-Attention"), mixed with dot-product
attention. Synthesized logits do not compare a query with a key; they are produced per position pair:

- dense (`synthesizer_kind="dense"`): a 2-layer feed-forward net of the query token gives one logit per key position,
  D_h(i, j) = F(x_i)[h, p_j], F(x) = W2 · relu(W1 · x + b1) + b2, from the attention input x (width d) through
  r = `synthesizer_hidden_size` (16) hidden units to heads × M logits;
- random (`"random"`): a learned table per head, independent of the tokens, R_h(i, j) = T[h, p_i, p_j],
  T: heads × M × M; `"dense+random"` has both.

The mixture is additive, with one learned weight per head and kind (`synthesizer.dense_weight`,
`synthesizer.random_weight`):

    logits_h(i, j) = s · q_h(i)·k_h(j) + a_h · D_h(i, j) + b_h · R_h(i, j) + mask(i, j)

p_i is the absolute position of token i, the one the model itself uses (RoPE's on a decoder, the position
embedding's on BERT; counted from each row's first real token when no `position_ids` are given), and read back from
the KV cache for past keys, so the term is right under cache offsets and left padding. M =
`synthesizer_max_positions`, by default the backbone's `max_position_embeddings` (at most 2^16, the positions the KV
cache carries exactly); a position outside [0, M − 1] is refused with an error. Fractional positions (float
`position_ids`) interpolate linearly between the two neighbouring integer positions (bilinearly for T), so an
integer position is an exact lookup.

**Identity setting:** a = b = 0 (`synthesizer_weight_init=0`) is exactly the stock model: conversion copies the
weights and sets a = b = 0. At that point only a and b get gradient; F and T get it once a step moves a, b off zero.
The paper's mixture α·S_syn + (1 − α)·S_dot also rescales q·k; keeping q·k fixed is what makes zero the identity."""


SYNTHESIZER = Design(
    name="synthesizer",
    summary="attention logits + a_h * F(x_i)[p_j] (dense) + b_h * T[h, p_i, p_j] (random): synthesized logits",
    math=MATH,
    fields=SynthesizerFields,
    identity={"synthesizer_weight_init": 0.0},
    active={"synthesizer_weight_init": 0.5, "synthesizer_kind": "dense+random"},
    capabilities=Capabilities(
        conversion="exact", cached_generation=True, identity_gradient="gate_first", bounded_positions=True
    ),
    logit_term=SynthesizerTerm,
    chosen_layers=layers_in_field("synthesizer_layers"),
    tasks=("retrieval", "mlm", "perplexity"),
)
