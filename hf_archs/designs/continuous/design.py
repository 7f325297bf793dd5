"""The continuous-position design, declared once: config fields, the position MLP module, the `Design`."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init

from ...core.design import Capabilities, ConversionPlan, Design, DesignFields
from ...core.positions import PositionEncoding


@dataclass(kw_only=True)
class ContinuousFields(DesignFields):
    """Config fields of continuous positions.

    continuous_encoding_dim: E, the width of the MLP's hidden layer.
    continuous_normalize: False: raw positions p, fed to the MLP as u = p / scale. True: per-row normalized positions
        u = k / (n - 1) for the k-th of a row's n tokens, computed from the attention mask (padding on either side does
        not shift them); explicit `position_ids` are then taken as normalized coordinates.
    continuous_scale: divisor of raw positions (None: `max_position_embeddings`, so the trained range is [0, 1)).
    continuous_residual_table: the exact variant, a setting and not the design: a frozen (buffer) table R added to
        the MLP, set at conversion to stock table - fitted MLP, so the model computes the stock function while the MLP
        trains. Raw positions only, at most `max_position_embeddings - 1`.
    """

    continuous_encoding_dim: int = 64
    continuous_normalize: bool = False
    continuous_scale: float | None = None
    continuous_residual_table: bool = False

    def validate_design_fields(self):
        if self.continuous_encoding_dim < 1:
            raise ValueError(f"continuous_encoding_dim must be >= 1, got {self.continuous_encoding_dim}.")
        if self.continuous_scale is not None and not self.continuous_scale > 0:
            raise ValueError(f"continuous_scale must be > 0 or None, got {self.continuous_scale}.")
        if self.continuous_residual_table and self.continuous_normalize:
            raise ValueError(
                "continuous_residual_table=True needs raw positions (continuous_normalize=False): the residual table "
                "is indexed by the stock integer positions."
            )


def normalized_positions(attention_mask: torch.Tensor | None, input_shape: torch.Size, device) -> torch.Tensor:
    """(batch, L) float positions k / (n - 1) of each row's tokens (0 for padding and for one-token rows)."""
    if attention_mask is None:
        attention_mask = torch.ones(input_shape, device=device)
    mask = attention_mask.to(torch.float32)
    index = (mask.cumsum(-1) - 1).clamp_min(0)
    count = mask.sum(-1, keepdim=True)
    return index / (count - 1).clamp_min(1) * mask


class ContinuousPositionEncoding(PositionEncoding):
    """pe(u) = W2 · GELU(W1 · u + b1) / E² + b2 (+ R[p] in the exact variant), in place of the learned position table.

    The first layer (a scalar input) runs in float32 at least whatever the model dtype: bfloat16 cannot tell
    neighbouring positions of a long sequence apart.

    Why the hidden units are divided by E²: they are ramps of slope ±E with kinks spread over [0, 1], so their sum
    reaches about E²/2 on the trained range. Adam moves every entry of W2 by about its learning rate in one step, so
    unscaled units moved pe by up to lr · E²/2 per step (about 800 · lr for E = 64): at lr 5e-4 a single step shifted
    every position's encoding by 20× MiniLM's token embeddings and training collapsed to chance. Scaled, a step moves
    pe by at most about lr / 2 (plus b2's lr), as a step moves a row of the stock table.
    """

    def __init__(self, config):
        super().__init__()
        width, hidden = config.continuous_encoding_dim, config.hidden_size
        self.w1 = nn.Parameter(torch.empty(width))
        self.b1 = nn.Parameter(torch.empty(width))
        self.w2 = nn.Parameter(torch.empty(hidden, width))
        self.b2 = nn.Parameter(torch.empty(hidden))
        self.hidden_scale = 1.0 / width**2
        self.normalize = config.continuous_normalize
        self.scale = float(config.continuous_scale or config.max_position_embeddings)
        if config.continuous_residual_table:
            # A buffer, so that training (and LoRA's modules_to_save) never changes it; saved with the weights.
            self.residual = nn.Buffer(torch.zeros(config.max_position_embeddings, hidden))
        else:
            self.residual = None

    def position_ids(self, attention_mask, input_shape, device):
        if self.normalize:
            return normalized_positions(attention_mask, input_shape, device)
        # Float positions 0..L-1 (the stock ones), not limited to the stock table's length.
        return torch.arange(input_shape[-1], dtype=torch.float32, device=device)[None]

    def coordinates(self, position_ids: torch.Tensor) -> torch.Tensor:
        """The MLP's input u: p / scale for raw positions, the positions themselves when normalized; in float32 at
        least (float64 for a float64 module)."""
        positions = position_ids.to(self.first_layer_dtype)
        return positions if self.normalize else positions / self.scale

    @property
    def first_layer_dtype(self) -> torch.dtype:
        return torch.promote_types(self.w1.dtype, torch.float32)

    def hidden_units(self, u: torch.Tensor) -> torch.Tensor:
        """(..., L) coordinates -> (..., L, E) hidden units GELU(W1 · u + b1) / E², in the first layer's dtype."""
        dtype = self.first_layer_dtype
        return F.gelu(u.unsqueeze(-1).to(dtype) * self.w1.to(dtype) + self.b1.to(dtype)) * self.hidden_scale

    def encode(self, u: torch.Tensor) -> torch.Tensor:
        """(..., L) coordinates -> (..., L, hidden) MLP encodings."""
        return F.linear(self.hidden_units(u).to(self.w2.dtype), self.w2, self.b2)

    def residual_at(self, position_ids: torch.Tensor) -> torch.Tensor:
        """R at (..., L) positions, linear between neighbouring rows (exact at integer positions)."""
        positions = position_ids.to(self.first_layer_dtype)
        if not torch.compiler.is_compiling() and ((positions < 0) | (positions > len(self.residual) - 1)).any():
            raise ValueError(
                f"The residual table covers positions 0..{len(self.residual) - 1}; got positions up to "
                f"{positions.max().item():g}. Use the pure MLP (continuous_residual_table=False) beyond it."
            )
        low = positions.floor()
        fraction = (positions - low).unsqueeze(-1).to(self.residual.dtype)
        low = low.long()
        high = (low + 1).clamp_max(len(self.residual) - 1)
        return self.residual[low] * (1 - fraction) + self.residual[high] * fraction

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        """(L,), (1, L) or (batch, L) positions, integer or float -> (1 or batch, L, hidden)."""
        if position_ids.dim() == 1:
            position_ids = position_ids[None]
        encoding = self.encode(self.coordinates(position_ids))
        if self.residual is not None:
            encoding = encoding + self.residual_at(position_ids)
        return encoding

    def init_design_weights(self, config):
        """Hidden units with kinks spread evenly over the trained range [0, 1] (alternating slopes of ±E), so that
        a freshly built MLP already separates positions; W2 small random, as for the stock table."""
        width = config.continuous_encoding_dim
        kinks = torch.linspace(0, 1, width)
        slopes = torch.full((width,), float(width))
        slopes[1::2] *= -1
        init.copy_(self.w1, slopes)
        init.copy_(self.b1, -slopes * kinks)
        init.normal_(self.w2, mean=0.0, std=config.initializer_range)
        init.zeros_(self.b2)
        if self.residual is not None:
            init.zeros_(self.residual)

    def extra_repr(self) -> str:
        kind = "normalized" if self.normalize else f"raw / {self.scale:g}"
        return f"encoding_dim={self.w1.numel()}, positions={kind}, residual_table={self.residual is not None}"


MATH = """\
An MLP of the (float) position u is added to the token embeddings in place of the backbone's learned position table:

    pe(u) = W2 · GELU(W1 · u + b1) / E² + b2,    W1, b1 ∈ R^E, W2 ∈ R^{d×E}, b2 ∈ R^d

E = `continuous_encoding_dim` (64 by default). The MLP's input u is

- raw positions (default): u = p / scale, p the position (integer or float `position_ids`), scale =
  `max_position_embeddings` unless `continuous_scale` says otherwise, so the trained range is [0, 1) and longer
  inputs extrapolate;
- normalized positions (`continuous_normalize=True`): u = k / (n − 1) for the k-th of a row's n tokens (0 when
  n = 1), computed per row from the attention mask, so padding on either side does not shift it (four tokens:
  [0, 1/3, 2/3, 1]). Explicit `position_ids` are then taken as such coordinates.

Why 1/E²: the hidden units start as ramps of slope ±E with kinks spread over [0, 1], which sum to about E²/2.
Divided by E², one Adam step (which moves every entry of W2 by about lr) moves pe by at most about lr, as it moves a
row of the stock table; unscaled, one step at lr 5e-4 moved every position's encoding by ~20× MiniLM's token
embeddings (training collapsed).

**Conversion** ("fitted") fits the MLP to the stock table T (P × d) at u = p / scale, p = 0 … P − 1: least squares
for W2, b2 on hidden units whose GELU kinks are spread over [0, 1], then Adam on all four weights; the fit error and
the change in the model's outputs are reported.

**Exact variant, a setting and not the design:** `continuous_residual_table=True` adds a frozen table R (a buffer: no
optimizer or LoRA adapter changes it), set at conversion to R = T − pe at the integer positions 0 … P − 1 and
linearly interpolated between them (raw positions only; positions beyond P − 1 are refused). pe + R = T reproduces
the stock model within float32 rounding while the MLP trains. It is the zoo's identity setting (what
`hf-archs convert` produces without `--set`); the design itself is the pure MLP:
`--set continuous_residual_table=false`."""


CONTINUOUS = Design(
    name="continuous",
    summary="a learned table of positions replaced by an MLP of the (float) position: pe = W2·GELU(W1·p + b1)/E² + b2",
    math=MATH,
    fields=ContinuousFields,
    identity={"continuous_residual_table": True},
    active={"continuous_residual_table": False},
    capabilities=Capabilities(conversion="fitted", cached_generation=True),
    conversion=ConversionPlan(
        initialize="hf_archs.designs.continuous.conversion:fit_position_table",
        replaces=("embeddings.position_embeddings.weight",),
    ),
    tasks=("mlm", "retrieval"),
    position_encoding=ContinuousPositionEncoding,
    # It replaces a learned position table (decoders with RoPE have none).
    runs_on=lambda backbone: backbone.position_embedding is not None,
)
