"""The positional-encoding suite, declared once: the config switch, its modules (absolute encodings in place of the
learned table, relative biases on the logits, RoPE kept or dropped) and the `Design`."""

import math
from dataclasses import dataclass
from types import MethodType

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init

from ...backbones import BACKBONES
from ...core.attention import POSITION_FEATURES, LogitTerm, decode_positions, encode_positions
from ...core.design import Capabilities, ConversionPlan, Design, DesignFields
from ...core.positions import PositionEncoding
from .attention import FUSED_KERNEL_KEY, positional_fused_attention
from .kernel import ALIBI, TABLE


# Added to the token embeddings in place of a learned position table (backbones that have one: BERT); `dynamic`
# also gates its sinusoid by the content it is added to (`DynamicPositionEncoding`).
ABSOLUTE = ("learned", "scaled", "sinusoidal", "continuous", "dynamic")
# Additive per-head biases on the attention logits, from the tokens' positions (every backbone).
RELATIVE = ("alibi", "t5", "relative")
# RoPE: the decoders' own rotation of q and k; NoPE: no position signal at all (causal masks still order tokens).
VARIANTS = (*ABSOLUTE, *RELATIVE, "rope", "nope")


def has_position_table(config) -> bool:
    return config.backbone.position_embedding is not None


def is_causal_backbone(config) -> bool:
    return config.backbone.is_decoder


def own_encoding(backbone) -> str:
    """The backbone's own encoding: its learned table where it has one (BERT), else RoPE (the decoders)."""
    return "learned" if backbone.position_embedding is not None else "rope"


def variant(config) -> str:
    """The config's encoding; None means the backbone's own (`own_encoding`)."""
    if config.positional_encoding is not None:
        return config.positional_encoding
    return own_encoding(config.backbone)


@dataclass(kw_only=True)
class PositionalFields(DesignFields):
    """Config fields of the positional suite.

    positional_encoding: the switch, one of learned, scaled, sinusoidal, continuous, dynamic (absolute, on backbones
        with a position table; dynamic gates a sinusoid by the content and the row's length), alibi, t5, relative
        (biases on the logits, every backbone), rope (decoders), nope; None is the backbone's own encoding (learned
        on BERT, rope on the decoders).
    positional_max_distance: K of `relative` (Shaw et al.): distances are clipped to [-K, K].
    positional_relative_dim: d_r, the width of `relative`'s per-head query projection and distance embeddings.
    positional_num_buckets, positional_bucket_max_distance: `t5`'s buckets (half exact, half logarithmic up to the
        max distance; on an encoder half the buckets for each direction).
    positional_continuous_dim: E, the hidden width of `continuous`'s MLP of the position.
    positional_sinusoidal_scale: amplitude of the fixed `sinusoidal` table (None: √2 × initializer_range, the RMS of a
        freshly initialized learned table, so that the token embeddings are not drowned); `dynamic` starts at the
        same amplitude (its learned per-channel scale s is initialized to 4 × this, both gates being 1/2).
    """

    positional_encoding: str | None = None
    positional_max_distance: int = 32
    positional_relative_dim: int = 16
    positional_num_buckets: int = 32
    positional_bucket_max_distance: int = 128
    positional_continuous_dim: int = 64
    positional_sinusoidal_scale: float | None = None

    def validate_design_fields(self):
        name = self.positional_encoding
        if name is not None and name not in VARIANTS:
            raise ValueError(f"positional_encoding must be one of {VARIANTS} or None, got {name!r}.")
        if name == "dynamic" and not has_position_table(self):
            raise ValueError(
                f"positional_encoding='dynamic' is an encoder encoding: the {self.backbone.name} backbone has no "
                "position table for it to replace, and its length gate makes a token's encoding depend on the final "
                "length of its row, which cached decoding does not know yet (keys cached at one length would not "
                f"match a recompute at the next). Use one of {(*RELATIVE, 'rope', 'nope')}."
            )
        if name in ABSOLUTE and not has_position_table(self):
            raise ValueError(
                f"positional_encoding={name!r} replaces a learned position table, which the {self.backbone.name} "
                f"backbone does not have; use one of {(*RELATIVE, 'rope', 'nope')}."
            )
        if name == "rope" and self.backbone.rotary_embedding is None:
            raise ValueError(f"positional_encoding='rope' needs a rotary backbone; {self.backbone.name} has none.")
        for field in ("positional_max_distance", "positional_relative_dim", "positional_continuous_dim"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
        if not 4 <= self.positional_num_buckets or self.positional_bucket_max_distance <= self.positional_num_buckets:
            raise ValueError(
                "positional_num_buckets must be >= 4 and below positional_bucket_max_distance, got "
                f"{self.positional_num_buckets} and {self.positional_bucket_max_distance}."
            )


# --- absolute encodings (in place of the learned table) -------------------------------------------------------------


def sinusoidal_table(positions: torch.Tensor, width: int) -> torch.Tensor:
    """(..., L) float positions -> (..., L, width): channel 2k is sin(p · ω_k), 2k + 1 is cos(p · ω_k),
    ω_k = 10000^(−2k / width). (The seed's loop wrote 10000^(2i / d) with i stepping by 2, i.e. ω_k = 10000^(−4k/d):
    half the frequency range was never used.)"""
    frequency = 10000.0 ** (-torch.arange(0, width, 2, dtype=positions.dtype, device=positions.device) / width)
    angles = positions[..., None] * frequency
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[..., :width]


def interpolate_rows(table: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(P, ...) rows at (..., L) positions, linear between neighbouring rows (exact at integer positions); positions
    outside [0, P − 1] are refused (a learned table has nothing to say there)."""
    positions = positions.to(torch.promote_types(table.dtype, torch.float32))
    if not torch.compiler.is_compiling() and ((positions < 0) | (positions > len(table) - 1)).any():
        raise ValueError(
            f"The learned position table has rows 0..{len(table) - 1}; got positions up to {positions.max().item():g} "
            "(raise max_position_embeddings, or use an encoding that extrapolates)."
        )
    low = positions.floor()
    fraction = (positions - low).to(table.dtype).reshape(*positions.shape, *([1] * (table.dim() - 1)))
    low = low.long()
    high = (low + 1).clamp_max(len(table) - 1)
    return table[low] * (1 - fraction) + table[high] * fraction


class AbsolutePositionEncoding(PositionEncoding):
    """pe(p) added to the token embeddings, chosen by `positional_encoding`:

    learned: T[p] (the stock table: conversion copies it, exact); scaled: T[p] · s[p] (s initialized to 1: exact);
    sinusoidal: a · sin/cos(p · ω_k) (fixed); continuous: W2 · GELU(W1 · p / P + b1) / E² + b2; rope / nope and the
    relative biases: 0 (the stock table is removed). Float positions are linear between the rows of a table.
    """

    def __init__(self, config):
        super().__init__()
        self.variant = variant(config)
        self.hidden_size = config.hidden_size
        # Follows the model's dtype and device (`model.to(...)`), for the variants without parameters; not saved.
        self.dtype_probe = nn.Buffer(torch.zeros(()), persistent=False)
        rows = config.max_position_embeddings
        if self.variant in ("learned", "scaled"):
            self.weight = nn.Parameter(torch.empty(rows, config.hidden_size))
        if self.variant == "scaled":
            self.scale = nn.Parameter(torch.empty(rows))
        if self.variant == "sinusoidal":
            self.amplitude = config.positional_sinusoidal_scale or math.sqrt(2) * config.initializer_range
        if self.variant == "continuous":
            width = config.positional_continuous_dim
            self.w1 = nn.Parameter(torch.empty(width))
            self.b1 = nn.Parameter(torch.empty(width))
            self.w2 = nn.Parameter(torch.empty(config.hidden_size, width))
            self.b2 = nn.Parameter(torch.empty(config.hidden_size))
            self.range = float(rows)
            # Hidden units sum to ~E²/2 over [0, 1]: divided by E², one Adam step moves pe by ~lr, as a table row.
            self.hidden_scale = 1.0 / width**2

    def position_ids(self, attention_mask, input_shape, device):
        """Variants without a table run past `max_position_embeddings`, where the stock embeddings' buffers of
        position and token type ids end: they get float positions 0 … L − 1 (the stock ones), which the BERT backbone
        serves with all-zero token types (the stock default). Tables keep the stock positions."""
        if self.variant in ("learned", "scaled"):
            return None
        return torch.arange(input_shape[-1], dtype=torch.float32, device=device)[None]

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        """(L,), (1, L) or (batch, L) positions, integer or float -> (1 or batch, L, hidden), in the model's dtype."""
        if position_ids.dim() == 1:
            position_ids = position_ids[None]
        # Positions in float32 at least (bfloat16 cannot tell neighbouring positions of a long input apart).
        positions = position_ids.to(torch.promote_types(self.dtype_probe.dtype, torch.float32))
        if self.variant == "learned":
            return interpolate_rows(self.weight, positions)
        if self.variant == "scaled":
            return interpolate_rows(self.weight, positions) * interpolate_rows(self.scale, positions)[..., None]
        if self.variant == "sinusoidal":
            return (self.amplitude * sinusoidal_table(positions, self.hidden_size)).to(self.dtype_probe.dtype)
        if self.variant == "continuous":
            hidden = F.gelu(
                positions[..., None] / self.range * self.w1.to(positions.dtype) + self.b1.to(positions.dtype)
            )
            return F.linear((hidden * self.hidden_scale).to(self.w2.dtype), self.w2, self.b2)
        # Relative biases, RoPE and NoPE carry no absolute signal: the table's contribution is zero.
        return torch.zeros(*positions.shape, self.hidden_size, device=positions.device, dtype=self.dtype_probe.dtype)

    def init_design_weights(self, config):
        # Non-persistent buffers too: loading builds the model on the meta device, so they are set here.
        init.zeros_(self.dtype_probe)
        if self.variant in ("learned", "scaled"):
            init.normal_(self.weight, mean=0.0, std=config.initializer_range)
        if self.variant == "scaled":
            init.ones_(self.scale)
        if self.variant == "continuous":
            # GELU kinks spread evenly over the trained range [0, 1], alternating slopes ±E.
            width = config.positional_continuous_dim
            slopes = torch.full((width,), float(width))
            slopes[1::2] *= -1
            init.copy_(self.w1, slopes)
            init.copy_(self.b1, -slopes * torch.linspace(0, 1, width))
            init.normal_(self.w2, mean=0.0, std=config.initializer_range)
            init.zeros_(self.b2)

    def extra_repr(self) -> str:
        return f"variant={self.variant}"


# --- the content-gated `dynamic` encoding ---------------------------------------------------------------------------


def row_positions(attention_mask: torch.Tensor | None, input_shape: torch.Size, device) -> torch.Tensor:
    """(batch, L) float positions counted over each row's real tokens (left padding gets 0, right padding repeats the
    row's last position), or 0 … L − 1 as (1, L) without a mask."""
    if attention_mask is None:
        return torch.arange(input_shape[-1], dtype=torch.float32, device=device)[None]
    counted = attention_mask.to(device=device, dtype=torch.long).cumsum(-1) - 1
    return counted.clamp(min=0).float()


class DynamicPositionEncoding(PositionEncoding):
    """The seed's content-gated encoding: the sinusoid of each position, gated per channel by the token it is added to
    and by the length of the token's row. It returns the embeddings, not an addend:

        out = x ⊙ c + (S(p) ⊙ s) ⊙ σ(MLP(x) · f_c) ⊙ σ(ℓ / P · f_ℓ)

    x (batch, L, d): the content the stock table was added to (word + token-type embeddings); S(p): the unit sinusoid
    of `sinusoidal_table`; c, s ∈ R^d: per-channel scales; MLP = Linear(d, 2d) → GELU → Linear(2d, d); f_c, f_ℓ:
    scalars; ℓ: the length of the token's own row, 1 + its last position (its token count under the default
    positions, which are counted per row from the attention mask: `row_positions`); P = max_position_embeddings.
    The stock embeddings do not hand x to a position embedding: the design gives the embeddings of this variant a
    forward that does (`content_gated_embeddings_forward`, installed by `hand_content_to_position_encoding`).

    Initialization: c = 1 (x passes unchanged), the MLP's output layer zero (content gate σ(0) = 1/2), f_c = 1,
    f_ℓ = 0 (length gate 1/2), s = 4a (a as in `sinusoidal`). At initialization the variant is therefore exactly
    `sinusoidal`, and converting a stock BERT has the sinusoidal variant's fidelity (the learned table is replaced
    by a·S(p); reported, not exact). The MLP's hidden layer and f_c get gradient once its output layer moves off
    zero (its own gradient is not zero, so after the first step).
    """

    def __init__(self, config):
        super().__init__()
        self.variant = "dynamic"
        self.hidden_size = config.hidden_size
        self.max_positions = float(config.max_position_embeddings)
        self.amplitude = config.positional_sinusoidal_scale or math.sqrt(2) * config.initializer_range
        self.content_scale = nn.Parameter(torch.empty(config.hidden_size))
        self.position_scale = nn.Parameter(torch.empty(config.hidden_size))
        self.gate_in = nn.Linear(config.hidden_size, 2 * config.hidden_size)
        self.gate_out = nn.Linear(2 * config.hidden_size, config.hidden_size)
        self.content_factor = nn.Parameter(torch.empty(()))
        self.length_factor = nn.Parameter(torch.empty(()))

    def position_ids(self, attention_mask, input_shape, device):
        # Per row: padding on either side does not move a row's positions, hence neither its length ℓ.
        return row_positions(attention_mask, input_shape, device)

    def forward(self, position_ids: torch.Tensor, content: torch.Tensor | None = None) -> torch.Tensor:
        """position_ids (L,), (1, L) or (batch, L), integer or float; content x (batch, L, hidden) -> the embeddings
        (batch, L, hidden)."""
        if content is None:
            raise ValueError(
                "positional_encoding='dynamic' gates the position signal by the content it is added to: the "
                "positional_bert embeddings call it with (position_ids, content), not with positions alone."
            )
        if position_ids.dim() == 1:
            position_ids = position_ids[None]
        # Positions in float32 at least (bfloat16 cannot tell neighbouring positions of a long input apart).
        positions = position_ids.to(torch.promote_types(content.dtype, torch.float32))
        # (batch or 1, 1, 1): each row's own length from its positions, never the padded length of the batch.
        length = positions.amax(dim=-1, keepdim=True)[..., None] + 1
        length_gate = torch.sigmoid(length / self.max_positions * self.length_factor.to(positions.dtype))
        position_signal = (sinusoidal_table(positions, self.hidden_size) * length_gate).to(content.dtype)
        content_gate = torch.sigmoid(self.gate_out(F.gelu(self.gate_in(content))) * self.content_factor)
        return content * self.content_scale + position_signal * self.position_scale * content_gate

    def init_design_weights(self, config):
        init.ones_(self.content_scale)
        # s = 4a: with both gates at 1/2 the position term is a · S(p), the `sinusoidal` variant's.
        init.constant_(self.position_scale, 4 * self.amplitude)
        init.normal_(self.gate_in.weight, mean=0.0, std=config.initializer_range)
        init.zeros_(self.gate_in.bias)
        init.zeros_(self.gate_out.weight)
        init.zeros_(self.gate_out.bias)
        init.ones_(self.content_factor)
        init.zeros_(self.length_factor)

    def extra_repr(self) -> str:
        return f"variant=dynamic, max_positions={self.max_positions:g}"


def absolute_encoding(config) -> PositionEncoding:
    """The module in place of the learned table: the content-gated `dynamic` one, or `AbsolutePositionEncoding`."""
    if variant(config) == "dynamic":
        return DynamicPositionEncoding(config)
    return AbsolutePositionEncoding(config)


# --- relative biases on the logits ----------------------------------------------------------------------------------


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi's head slopes: 2^(−8h/n) for h = 1..n when n = num_heads is a power of two; otherwise the n' = 2^⌊log2 n⌋
    slopes of n' heads, then every other slope of 2n' heads for the rest."""
    closest = 2 ** math.floor(math.log2(num_heads))
    slopes = [2 ** (-8 * (h + 1) / closest) for h in range(closest)]
    extra = [2 ** (-8 * (h + 1) / (2 * closest)) for h in range(2 * closest)][0::2]
    return torch.tensor(slopes + extra[: num_heads - closest], dtype=torch.float64)


def t5_buckets(relative: torch.Tensor, *, bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bucket of each relative position key − query (rounded to an integer): exact below half the buckets (per
    direction), logarithmic up to `max_distance`, the last bucket beyond."""
    relative = relative.round().long()
    buckets = torch.zeros_like(relative)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative > 0).long() * num_buckets
        relative = relative.abs()
    else:
        relative = (-relative).clamp_min(0)
    exact = num_buckets // 2
    scaled = torch.log(relative.float().clamp_min(1) / exact) / math.log(max_distance / exact)
    logarithmic = exact + (scaled * (num_buckets - exact)).long()
    logarithmic = logarithmic.clamp_max(num_buckets - 1)
    return buckets + torch.where(relative < exact, relative, logarithmic)


class RelativePositionBias(LogitTerm):
    """A per-head bias from the distance between query and key positions, chosen by `positional_encoding`:

    alibi: −m_h · |p_i − p_j| (fixed slopes); t5: b[bucket(p_j − p_i), h] (learned scalar per bucket and head);
    relative (Shaw et al., clipped): (x_i W_r)_h · a[clip(p_j − p_i, −K, K), h] / √d_r, a learned distance embedding
    dotted with the term's own per-head query projection.
    The features are the position (and for `relative` the projected query): cached keys keep their positions, so
    distances stay right under the KV cache and left padding. Under `attn_implementation="positional_triton"` the
    fused kernel (`kernel.py`) takes the bias as a table over distances (`kernel_form`, `coefficients`).
    """

    attribute_name = "positional_bias"
    uses_positions = True
    kernels = {FUSED_KERNEL_KEY: positional_fused_attention}

    def __init__(self, config):
        super().__init__()
        self.variant = variant(config)
        self.num_heads = config.num_attention_heads
        self.num_features = POSITION_FEATURES
        if self.variant == "alibi":
            self.slopes = nn.Buffer(alibi_slopes(self.num_heads).float(), persistent=False)
        if self.variant == "t5":
            self.bidirectional = not is_causal_backbone(config)
            self.num_buckets = config.positional_num_buckets
            self.max_distance = config.positional_bucket_max_distance
            self.bucket_bias = nn.Parameter(torch.empty(self.num_buckets, self.num_heads))
        if self.variant == "relative":
            self.max_relative = config.positional_max_distance
            self.relative_dim = config.positional_relative_dim
            self.query = nn.Linear(config.hidden_size, self.num_heads * self.relative_dim, bias=False)
            self.distance_embedding = nn.Parameter(
                torch.empty(2 * self.max_relative + 1, self.num_heads, self.relative_dim)
            )
            self.num_features = POSITION_FEATURES + self.num_heads * self.relative_dim

    def features(self, hidden_states, positions=None):
        # (batch, L, 3): the positions as the KV cache can hold them exactly (`encode_positions`).
        positions = encode_positions(positions, hidden_states.dtype)
        positions = positions.expand(*hidden_states.shape[:-1], POSITION_FEATURES)
        if self.variant != "relative":
            return positions
        return torch.cat([positions, self.query(hidden_states)], dim=-1)

    def bias(self, query_features, key_features, dtype):
        # (batch, Lq, Lk) signed distance key − query, in float32 at least.
        query_positions = decode_positions(query_features[..., :POSITION_FEATURES])
        key_positions = decode_positions(key_features[..., :POSITION_FEATURES])
        relative = key_positions[:, None, :] - query_positions[:, :, None]
        precision = relative.dtype
        if self.variant == "alibi":
            return (-self.slopes.to(precision)[None, :, None, None] * relative.abs()[:, None]).to(dtype)
        if self.variant == "t5":
            buckets = t5_buckets(
                relative,
                bidirectional=self.bidirectional,
                num_buckets=self.num_buckets,
                max_distance=self.max_distance,
            )
            return self.bucket_bias[buckets].permute(0, 3, 1, 2).to(dtype)
        # relative: score every query against the 2K + 1 distance embeddings, then pick each key's distance.
        index = (relative.round().long().clamp(-self.max_relative, self.max_relative) + self.max_relative)[:, None]
        index = index.expand(-1, self.num_heads, -1, -1)
        return torch.gather(self.distance_scores(query_features), -1, index).to(dtype)

    def distance_scores(self, query_features):
        """`relative`: (batch, heads, Lq, 2K + 1) scores of each query against each clipped distance, / √d_r."""
        batch, length = query_features.shape[:2]
        projected = query_features[..., POSITION_FEATURES:].reshape(batch, length, self.num_heads, self.relative_dim)
        scores = torch.einsum("bihd,rhd->bhir", projected, self.distance_embedding.to(projected.dtype))
        return scores / math.sqrt(self.relative_dim)

    def kernel_form(self) -> tuple[int, int, int]:
        """(mode, d_lo, d_hi) of the fused kernel: alibi's slopes, or a table over the distances d_lo … d_hi (key −
        query, clamped: t5's buckets are constant past `max_distance`, and a decoder's t5 gives every d ≥ 0 the bucket
        of 0)."""
        if self.variant == "alibi":
            return ALIBI, 0, 0
        if self.variant == "t5":
            return TABLE, -self.max_distance, self.max_distance if self.bidirectional else 0
        return TABLE, -self.max_relative, self.max_relative

    def coefficients(self, query_features):
        """The fused kernel's table: alibi's slopes (heads,); t5's bias per head and distance of `kernel_form`
        (heads, V); relative's `distance_scores` (batch, heads, Lq, 2K + 1). New tensors, differentiable in the
        parameters."""
        if self.variant == "alibi":
            return self.slopes.clone()
        if self.variant == "relative":
            return self.distance_scores(query_features)
        _, d_lo, d_hi = self.kernel_form()
        distances = torch.arange(d_lo, d_hi + 1, dtype=torch.float32, device=self.bucket_bias.device)
        buckets = t5_buckets(
            distances, bidirectional=self.bidirectional, num_buckets=self.num_buckets, max_distance=self.max_distance
        )
        return self.bucket_bias[buckets].T

    def init_design_weights(self, config):
        if self.variant == "alibi":
            init.copy_(self.slopes, alibi_slopes(self.num_heads))
        if self.variant == "t5":
            init.normal_(self.bucket_bias, mean=0.0, std=config.initializer_range)
        if self.variant == "relative":
            init.normal_(self.query.weight, mean=0.0, std=config.initializer_range)
            init.normal_(self.distance_embedding, mean=0.0, std=1.0)

    def extra_repr(self) -> str:
        return f"variant={self.variant}, heads={self.num_heads}"


MATH = """\
One config switch, `positional_encoding`, picks how token positions p reach the model, on the backbones where each
variant applies (None: the backbone's own encoding).

**Absolute encodings**, added to the token embeddings in place of the learned table (backbones that have one: BERT);
p integer or float, float p linear between the rows of a table, positions beyond a table refused:

- learned: pe(p) = T[p], the stock table; scaled: pe(p) = T[p] · s[p], s ∈ R^P initialized to 1 (exact too);
- sinusoidal: pe(p)_{2k} = a · sin(p ω_k), pe(p)_{2k+1} = a · cos(p ω_k), ω_k = 10000^(−2k/d), fixed; a =
  `positional_sinusoidal_scale` (default √2 × initializer_range, the RMS of a fresh learned table);
- continuous: pe(p) = W2 · GELU(W1 · p / P + b1) / E² + b2 (E = `positional_continuous_dim`, 64; P =
  max_position_embeddings);
- dynamic: x + pe(p) becomes x ⊙ c + (S(p) ⊙ s) ⊙ σ(MLP(x) · f_c) ⊙ σ(ℓ / P · f_ℓ): the unit sinusoid S gated per
  channel by the content x (word + token-type embeddings; MLP = Linear(d, 2d) → GELU → Linear(2d, d)) and by the
  row's own length ℓ (1 + its last position); c, s ∈ R^d per-channel scales, f_c, f_ℓ scalars. Positions are counted
  per row from the attention mask, so a row's encoding does not change with padding on either side or with the
  length of the batch. Initialized with c = 1, the MLP's output layer zero, f_ℓ = 0 and s = 4a: both gates are 1/2
  and the variant starts as exactly `sinusoidal`. Encoders only: on a decoder the length gate would change a token's
  encoding as its row grows, so cached keys would not match a recompute.

**Relative encodings**, a per-head bias on the attention logits (every backbone; RoPE is dropped on the decoders and
the learned table on BERT):

    logits_h(i, j) = s · q_i·k_j + B_h(i, j) + mask(i, j)

- alibi: B_h = −m_h · |p_i − p_j|, m_h = 2^(−8h/H) for h = 1 … H (H a power of two; otherwise ALiBi's
  interleaving). No parameters.
- t5: B_h = b[bucket(p_j − p_i), h], a learned scalar per bucket and head (N × H per layer, N =
  `positional_num_buckets`, 32). Bidirectional buckets on an encoder (N/2 per direction), one-sided on a decoder;
  of the n buckets of a direction, distances below n/2 get their own bucket, longer ones a logarithmic bucket up to
  `positional_bucket_max_distance` (128), the last bucket beyond.
- relative (Shaw et al., clipped): B_h = (x_i W_r)_h · a[clip(p_j − p_i, −K, K), h] / √d_r, with the term's own
  per-head query projection W_r (d × H·d_r) of the attention input x and a learned embedding a ((2K+1) × H × d_r)
  per clipped distance, per layer; K = `positional_max_distance` (32), d_r = `positional_relative_dim` (16).

The biases read each token's position (the caller's `position_ids`, else each row's real tokens counted from 0,
after the cached ones); cached keys keep their positions, so cached decoding and left padding give the same distances
as a full forward. Fractional positions are rounded for t5 and relative, used as they are by alibi (and by rope).

**rope**: q and k rotated by position (the decoders' own); **nope**: no position signal (on a decoder the causal mask
alone orders the tokens).

**Identity setting:** the backbone's own encoding, learned on BERT and rope on the decoders (exact conversion). Every
other variant removes the stock encoding, so the converted model's difference from the stock one is reported, not
exact, and training (LoRA, with the variant's new parameters trained in full) adapts it."""


def content_gated_embeddings_forward(
    self,
    input_ids: torch.LongTensor | None = None,
    token_type_ids: torch.LongTensor | None = None,
    position_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    past_key_values_length: int = 0,
    cache_length: int = 0,
) -> torch.Tensor:
    """Stock `BertEmbeddings.forward`, except that the position encoding (`DynamicPositionEncoding`) gets the content
    x = word + token-type embeddings and returns the embeddings x ⊙ c + gated sinusoid instead of an addend.

    The cached length comes as `cache_length` from Transformers 5.24 on, `past_key_values_length` before."""
    past_key_values_length = cache_length or past_key_values_length
    if input_ids is not None:
        input_shape = input_ids.size()
    else:
        input_shape = inputs_embeds.size()[:-1]
    batch_size, seq_length = input_shape
    if position_ids is None:
        position_ids = self.position_ids[:, past_key_values_length : seq_length + past_key_values_length]
    if token_type_ids is None:
        # The stock default, all zeros (the stock buffer it is gathered from holds zeros only).
        token_type_ids = torch.zeros(input_shape, dtype=torch.long, device=self.token_type_ids.device)
    if inputs_embeds is None:
        inputs_embeds = self.word_embeddings(input_ids)
    content = inputs_embeds + self.token_type_embeddings(token_type_ids)
    embeddings = self.position_embeddings(position_ids, content)  # (batch, L, hidden): x ⊙ c + gated sinusoid
    embeddings = self.LayerNorm(embeddings)
    embeddings = self.dropout(embeddings)
    return embeddings


def hand_content_to_position_encoding(base_model: nn.Module) -> None:
    """Under `dynamic`, the embeddings module holding the position encoding gets `content_gated_embeddings_forward`
    (bound to this instance, so a deep copy rebinds it to the copy's; the stock class is untouched)."""
    path = base_model.config.backbone.position_embedding
    if variant(base_model.config) == "dynamic" and path is not None:
        embeddings = base_model.get_submodule(path.rpartition(".")[0])
        embeddings.forward = MethodType(content_gated_embeddings_forward, embeddings)


POSITIONAL = Design(
    name="positional",
    summary="the positional-encoding suite behind one switch: learned, scaled, sinusoidal, continuous, content-gated "
    "dynamic, ALiBi, T5 bias, Shaw relative, RoPE, NoPE",
    math=MATH,
    fields=PositionalFields,
    identity={},
    identity_by_backbone={name: {"positional_encoding": own_encoding(b)} for name, b in BACKBONES.items()},
    active={"positional_encoding": "t5"},
    # The decoders' identity (RoPE) adds no parameters; variants that do (t5, relative, scaled, continuous, dynamic)
    # are checked to train in the design's own tests.
    capabilities=Capabilities(
        conversion="exact", cached_generation=True, new_parameters=False, kernels=(FUSED_KERNEL_KEY,)
    ),
    # Variants without a table drop the stock one (the converter then does not refuse it as unexpected).
    conversion=ConversionPlan(replaces=("embeddings.position_embeddings.weight",)),
    logit_term=RelativePositionBias,
    chosen_layers=lambda config: list(range(config.num_hidden_layers)) if variant(config) in RELATIVE else [],
    tasks=("extrapolation",),
    # Built per variant: `dynamic` is its own module (it reads the content), the others `AbsolutePositionEncoding`.
    position_encoding=absolute_encoding,
    position_encoding_when=has_position_table,
    # Every variant but rope turns the decoders' RoPE into the identity (BERT has none to turn off).
    keeps_rotary=lambda config: variant(config) == "rope" or config.backbone.rotary_embedding is None,
    finish_base_model=hand_content_to_position_encoding,
)
