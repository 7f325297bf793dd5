"""The multi-scale design, declared once: config fields, the multi-scale layer module, the `Design`."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init

from ...core.attention import DesignAttention
from ...core.compat import cache_argument
from ...core.design import Capabilities, Design, DesignFields, check_layer_indices, layers_in_field
from ...core.layers import LayerExtension, call_like, ensure_cache_layer, layer_input, outputs_not_recorded


# The seed's scales [64, 128, 256, 384] for d = 384, as sixths of the width.
DEFAULT_SIXTHS = (1, 2, 4, 6)
PLACEMENTS = ("layers", "after_encoder")


def resolved_scales(config) -> list[int]:
    """The branch widths, ascending; the last is the model width (the stock layer). Default: d/6, d/3, 2d/3, d, each
    rounded down to a multiple of d / heads (at least one head), duplicates dropped."""
    if config.multiscale_scales is not None:
        return sorted(config.multiscale_scales)
    d = config.hidden_size
    unit = d // config.num_attention_heads
    return sorted({max(unit, d * sixths // 6 // unit * unit) for sixths in DEFAULT_SIXTHS})


@dataclass(kw_only=True)
class MultiscaleFields(DesignFields):
    """Config fields of multi-scale layers.

    multiscale_scales: the branch widths s; the largest must be hidden_size (that branch is the stock layer), every
        other a multiple of hidden_size / num_attention_heads (heads = s / head_dim). After the encoder, [hidden_size]
        alone is allowed: one plain extra layer, the control for several widths. None: d/6, d/3, 2d/3, d
        rounded down to such multiples ([64, 128, 256, 384] for d = 384 with 12 heads).
    multiscale_placement: "layers": the chosen stock layers become multi-scale layers, y = Fuse(concat_s
        Block_s(P_s x)) with the stock layer as the full-width branch. "after_encoder": one multi-scale block after
        the last layer (before a decoder's final norm), y = h + Fuse(concat_s Block_s(P_s h)) on the last layer's
        output h, where every width, the full one included, is a new layer (P_d = identity).
    multiscale_layers: with placement "layers", indices of the layers that become multi-scale layers; None means
        every layer.
    multiscale_branch_weight: standard deviation of the initial Fuse columns of new branches; 0.0 is the identity
        setting (placement "layers": Fuse selects the full-width branch, the stock layer; "after_encoder": Fuse = 0
        and the block adds nothing).
    """

    multiscale_scales: list[int] | None = None
    multiscale_placement: str = "layers"
    multiscale_layers: list[int] | None = None
    multiscale_branch_weight: float = 0.0

    def validate_design_fields(self):
        if self.multiscale_placement not in PLACEMENTS:
            raise ValueError(f"multiscale_placement={self.multiscale_placement!r} must be one of {PLACEMENTS}.")
        if self.multiscale_placement == "after_encoder" and self.multiscale_layers is not None:
            raise ValueError(
                "multiscale_layers chooses the layers of placement 'layers'; the 'after_encoder' block follows the "
                "last layer (set multiscale_layers=None)."
            )
        check_layer_indices("multiscale_layers", self.multiscale_layers, self.num_hidden_layers)
        d, heads = self.hidden_size, self.num_attention_heads
        scales = resolved_scales(self)
        unit = d / heads
        for width in scales[:-1]:
            if not 0 < width < d or width / unit != int(width / unit):
                raise ValueError(
                    f"multiscale_scales={scales}: every narrower width must be a multiple of hidden_size / heads = "
                    f"{unit:g} below {d} (its heads = width / head_dim)."
                )
        # After the encoder a single width [d] is one plain extra layer (the control for several widths); in a
        # stock layer it would be the stock layer alone.
        fewest = 1 if self.multiscale_placement == "after_encoder" else 2
        if len(set(scales)) != len(scales) or scales[-1] != d or len(scales) < fewest:
            raise ValueError(
                f"multiscale_scales={scales} must be distinct and include hidden_size={d}"
                + ("." if fewest == 1 else " (the stock layer's branch) and at least one narrower width.")
            )
        if not abs(self.multiscale_branch_weight) < float("inf"):
            raise ValueError("multiscale_branch_weight must be finite.")


class MultiScaleLayer(LayerExtension):
    """Multi-scale widths on one layer, in one of two placements (`multiscale_placement`):

    - "layers": y = Fuse(concat_s Block_s(P_s x)) on the layer input x; Block_d is the stock layer itself
      (P_d = identity), the layer's own output;
    - "after_encoder" (on the last layer): y = h + Fuse(concat_s Block_s(P_s h)) on the layer's output h; every
      width, the full one included, is a new layer (P_d = identity).

    Attached to the stock layer as `multiscale`: `projections.k` (P_s: Linear d → s; Identity at s = d),
    `branches.k` (Block_s: a stock layer of the family of width s), `fuse_weight` (d, Σs) and `fuse_bias` (d)
    (Fuse: Linear Σs → d). Each branch keeps its own KV-cache layer; its outputs are not recorded as hidden states
    or attentions of the model.
    """

    attribute_name = "multiscale"

    def __init__(self, config, layer_idx, stock_layer, backbone, first_cache_index):
        super().__init__()
        scales = resolved_scales(config)
        width = config.hidden_size
        self.layer_idx = layer_idx
        self.after_encoder = config.multiscale_placement == "after_encoder"
        # The new branches' widths: "layers" reuses the stock layer as the full-width branch.
        self.widths = scales if self.after_encoder else scales[:-1]
        self.projections = nn.ModuleList([nn.Linear(width, s) if s < width else nn.Identity() for s in self.widths])
        self.branches = nn.ModuleList([backbone.narrow_layer(config, layer_idx, s) for s in self.widths])
        self.fuse_weight = nn.Parameter(torch.empty(width, sum(scales)))
        self.fuse_bias = nn.Parameter(torch.empty(width))
        self.num_cache_layers = len(self.widths)
        self.cache_indices = [first_cache_index + k for k in range(len(self.widths))]
        self.branch_configs = []
        for branch, cache_index in zip(self.branches, self.cache_indices):
            for attention in branch.modules():
                if isinstance(attention, DesignAttention):
                    attention.layer_idx = cache_index  # its own KV-cache layer
                    self.branch_configs.append(attention.config)
        # The model's config: the branches' configs follow its attention implementation when it changes.
        self.model_config = config

    def _follow_attention_implementation(self):
        implementation = self.model_config._attn_implementation
        for branch_config in self.branch_configs:
            if branch_config._attn_implementation_internal != implementation:
                branch_config._attn_implementation_internal = implementation

    def forward(self, layer_output, layer_args, layer_kwargs):
        branch_input = layer_output if self.after_encoder else layer_input(layer_args, layer_kwargs)
        cache = cache_argument(layer_kwargs)
        self._follow_attention_implementation()
        outputs = []
        with outputs_not_recorded():
            for projection, branch, cache_index in zip(self.projections, self.branches, self.cache_indices):
                if cache is not None:
                    ensure_cache_layer(cache, cache_index, like=self.layer_idx)
                outputs.append(call_like(branch, projection(branch_input), layer_args, layer_kwargs))
        if self.after_encoder:
            return layer_output + F.linear(torch.cat(outputs, dim=-1), self.fuse_weight, self.fuse_bias)
        outputs.append(layer_output)
        return F.linear(torch.cat(outputs, dim=-1), self.fuse_weight, self.fuse_bias)

    def init_design_weights(self, config):
        """Fuse's columns of the new branches N(0, w²) (0 at the identity); with placement "layers" the stock
        branch's columns are the identity. Bias 0; the projections and branches get the family's usual
        initialization (from `_init_weights`)."""
        width, new = config.hidden_size, sum(self.widths)
        fuse = torch.zeros(width, self.fuse_weight.shape[1])
        if config.multiscale_branch_weight:
            fuse[:, :new].normal_(0.0, abs(config.multiscale_branch_weight))
        if not self.after_encoder:
            fuse[:, new:] = torch.eye(width)
        init.copy_(self.fuse_weight, fuse)
        init.zeros_(self.fuse_bias)

    def extra_repr(self) -> str:
        placement = "after_encoder" if self.after_encoder else "layers"
        return f"layer={self.layer_idx}, placement={placement}, widths={resolved_scales(self.model_config)}"


def multiscale_layer_indices(config) -> list[int]:
    if config.multiscale_placement == "after_encoder":
        return [config.num_hidden_layers - 1]
    return layers_in_field("multiscale_layers")(config)


MATH = """\
A chosen layer's output becomes a fusion of full transformer layers of several widths:

    y = Fuse(concat_s Block_s(P_s x)),    s ∈ scales (default d/6, d/3, 2d/3, d: 64, 128, 256, 384 for d = 384)

x is the layer input (batch, L, d). For each narrower width s < d, P_s is Linear(d → s) (with bias) and Block_s a
full layer of the backbone's family at width s: attention with s / head_dim heads of the stock head dim (KV heads
scaled alike, at least one), an MLP of width intermediate_size · s / d, the family's norms, residuals and dropout; it
runs on the model's own masks (causal, sliding window, padding), rotary embeddings and KV cache, where it keeps a
cache layer of its own. The full-width branch is the stock layer itself, with P_d = identity (a learned d × d map in
front of a layer whose first operations are linear would mostly re-parametrize the stock weights, and would cost d²
parameters per layer). Fuse is Linear(Σs → d) with bias on the concatenation. `multiscale_layers` chooses the layers
(default: every layer), `multiscale_scales` the widths (each narrower one a multiple of d / heads, the largest
equal to d; the default sixths are rounded down to such multiples).

**Identity setting:** Fuse = [0 | I], bias 0, selects the full-width branch, so the converted model computes the
stock model exactly (0 · a + 1 · b = b in floating point). The narrower branches are initialized like the family's
layers and contribute once Fuse's columns for them move off zero (`multiscale_branch_weight` = w draws those columns
from N(0, w²) instead; not the identity). At the identity only Fuse gets gradient; every other new weight gets it
after one step.

**Placement** (`multiscale_placement`): `"layers"` (default) as above; `"after_encoder"` puts one multi-scale block
after the last layer (before a decoder's final norm), on that layer's output h:

    y = h + Fuse(concat_s Block_s(P_s h)),    every width a new layer (Block_d too), P_d = identity

The stock model is untouched and the block adds capacity on top; Fuse = 0 is the identity (h + 0 = h, exact).

Branch layers are not layers of the model: `output_hidden_states` has one entry per stock layer (each the fused
output of its layer; with `"after_encoder"` the last entry is y) and `output_attentions` one map per stock layer,
with the stock head count."""


MULTISCALE = Design(
    name="multiscale",
    summary="multi-scale layers: y = Fuse(concat_s Block_s(P_s x)), full transformer layers of several widths",
    math=MATH,
    fields=MultiscaleFields,
    identity={"multiscale_branch_weight": 0.0},
    active={"multiscale_branch_weight": 0.05},
    capabilities=Capabilities(conversion="exact", cached_generation=True, identity_gradient="gate_first"),
    chosen_layers=multiscale_layer_indices,
    tasks=("retrieval", "mlm", "perplexity"),
    layer_extension=MultiScaleLayer,
)
