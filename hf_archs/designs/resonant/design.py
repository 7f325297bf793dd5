"""The resonant design, declared once: config fields, identity/active settings, capabilities, the logit term."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from ...core.attention import LogitTerm
from ...core.design import Capabilities, ConversionPlan, Design, DesignFields, check_layer_indices, layers_in_field
from .attention import FUSED_KERNEL_KEY, resonant_fused_attention
from .naive import CHANNELS_PER_SLOT, resonance_abs_chunked, resonance_inner_product, slot_states


QUATERNION_FORMS = ("abs", "squared")


@dataclass(kw_only=True)
class ResonantFields(DesignFields):
    """Config fields of resonant attention.

    resonant_lambda_init: initial lambda_h, the weight of Res / temperature on the logits; 0.0 is the identity.
    resonant_num_slots: P, the slots of a token's state (per head).
    resonant_top_k: k, the size of each token's active set (1 ≤ k ≤ P).
    resonant_weight_jaccard, resonant_weight_quaternion, resonant_weight_phase: a, b, c (≥ 0, summing to 1).
    resonant_temperature: the score enters the logits as lambda_h · Res / temperature.
    resonant_quaternion: "abs" (the definition, |q·q'|, summed slot by slot) or "squared" ((q·q')², three matmuls).
    resonant_layers: indices of the layers that get the term; None means every layer.
    resonant_eps: floor of |q| when normalizing the quaternions.
    resonant_transfer_steps: the budget of the pure variant's conversion (full-batch attention-transfer steps).
    """

    resonant_lambda_init: float = 0.0
    resonant_num_slots: int = 16
    resonant_top_k: int = 4
    resonant_weight_jaccard: float = 1 / 3
    resonant_weight_quaternion: float = 1 / 3
    resonant_weight_phase: float = 1 / 3
    resonant_temperature: float = 1.0
    resonant_quaternion: str = "abs"
    resonant_layers: list[int] | None = None
    resonant_eps: float = 1e-6
    resonant_transfer_steps: int = 100

    def validate_design_fields(self):
        if not 1 <= self.resonant_top_k <= self.resonant_num_slots:
            raise ValueError(
                f"resonant_top_k={self.resonant_top_k} must be in [1, resonant_num_slots={self.resonant_num_slots}]."
            )
        weights = (self.resonant_weight_jaccard, self.resonant_weight_quaternion, self.resonant_weight_phase)
        if min(weights) < 0 or abs(sum(weights) - 1) > 1e-6:
            raise ValueError(f"resonant_weight_jaccard/quaternion/phase = {weights} must be ≥ 0 and sum to 1.")
        if self.resonant_quaternion not in QUATERNION_FORMS:
            raise ValueError(f"resonant_quaternion={self.resonant_quaternion!r} must be one of {QUATERNION_FORMS}.")
        if not (self.resonant_temperature > 0 and self.resonant_eps > 0 and self.resonant_transfer_steps >= 0):
            raise ValueError("resonant_temperature and resonant_eps must be > 0, resonant_transfer_steps ≥ 0.")
        if not abs(self.resonant_lambda_init) < float("inf"):
            raise ValueError("resonant_lambda_init must be finite.")
        check_layer_indices("resonant_layers", self.resonant_layers, self.num_hidden_layers)


def kernel_refusal(config) -> str | None:
    """The fused kernel computes the squared form only (|q·q'| is not an inner product of per-token features)."""
    if config.resonant_quaternion != "squared":
        return f"the fused kernel computes resonant_quaternion='squared' only, not {config.resonant_quaternion!r}"
    return None


class ResonantTerm(LogitTerm):
    """lambda_h · Res_h(i, j) / temperature on one layer.

    `projection` maps the attention input x to P slots per head, 6 channels each (slot logit, quaternion, phase):
    those are the per-token features (they ride in the KV cache). `weight` is lambda, one per head. Attached to the
    attention layer as `resonant`, so PEFT trains and saves it with an adapter (`modules_to_save=["resonant"]`).
    """

    attribute_name = "resonant"
    kernels = {FUSED_KERNEL_KEY: resonant_fused_attention}

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.top_k = config.resonant_top_k
        self.temperature = config.resonant_temperature
        self.squared = config.resonant_quaternion == "squared"
        self.eps = config.resonant_eps
        self.weights = (
            config.resonant_weight_jaccard,
            config.resonant_weight_quaternion,
            config.resonant_weight_phase,
        )
        self.num_features = self.num_heads * config.resonant_num_slots * CHANNELS_PER_SLOT
        self.projection = nn.Linear(config.hidden_size, self.num_features)
        self.weight = nn.Parameter(torch.full((self.num_heads,), float(config.resonant_lambda_init)))

    def features(self, hidden_states):
        # In the model's dtype, as they are stored in the KV cache: cached decoding then makes the same slot choices
        # (top-k of the slot logits) as a full forward, in half precision too.
        return self.projection(hidden_states)

    def resonance(self, query_features, key_features):
        """Res (batch, heads, Lq, Lk) in at least float32."""
        query = slot_states(query_features, self.num_heads, self.top_k, self.eps)
        if key_features is query_features:  # no cache: one sequence on both sides
            key = query
        else:
            key = slot_states(key_features, self.num_heads, self.top_k, self.eps)
        score = resonance_inner_product if self.squared else resonance_abs_chunked
        return score(query, key, self.weights)

    def bias(self, query_features, key_features, dtype):
        score = self.resonance(query_features, key_features)
        return (self.weight.to(score.dtype).view(1, -1, 1, 1) * score / self.temperature).to(dtype)

    def coefficients(self):
        # lambda_h / temperature, the kernel's per-head weight of Res (a new tensor: FSDP frees the gathered one).
        return self.weight / self.temperature

    def init_design_weights(self, config):
        init.constant_(self.weight, config.resonant_lambda_init)
        # Unit-variance projections of a normalized input: slots, orientations and phases differ between tokens.
        init.normal_(self.projection.weight, std=config.hidden_size**-0.5)
        init.zeros_(self.projection.bias)

    def extra_repr(self) -> str:
        return f"heads={self.num_heads}, top_k={self.top_k}, squared={self.squared}"


MATH = """\
Tokens as sparse slot states; the attention logits gain their resonance. Per head, a learned projection of the
attention input x_i (after the layer's input norm on a pre-norm backbone) gives P slot logits l_ip, P quaternions
q_ip (normalized to unit length, ‖q‖ floored at `resonant_eps`) and P phases phi_ip (P = `resonant_num_slots`, 16).
The active set A_i is the top-k slots of l_i (k = `resonant_top_k`, 4). Between tokens i and j:

    Res(i, j) = a · |A_i ∩ A_j| / |A_i ∪ A_j|
              + b · mean over p ∈ A_i ∩ A_j of |q_ip · q_jp|
              + c · (mean over p ∈ A_i ∩ A_j of cos(phi_ip − phi_jp) + 1) / 2,     a + b + c = 1, a, b, c ≥ 0

and Res(i, j) = 0 when A_i ∩ A_j is empty. So 0 ≤ Res ≤ 1, Res(i, j) = Res(j, i), Res(i, i) = 1, and flipping the
sign of any quaternion changes nothing. a, b, c = `resonant_weight_jaccard`, `_quaternion`, `_phase` (1/3 each).

**Hybrid** (the `resonant_*` model types):

    logits_h(i, j) = s · q_h(i)·k_h(j) + lambda_h · Res_h(i, j) / temperature + mask(i, j)

with s the backbone's attention scaling and lambda (`resonant.weight`, one per head) learned, in each layer of
`resonant_layers` (default: every layer).

**Gradients:** top-k has none, so the active-set indicator m uses a straight-through estimator,
m = topk_indicator(l) + sigmoid(l) − stop_gradient(sigmoid(l)): exact 0/1 values forward, sigmoid'(l) backward.

**Computation:** with m the 0/1 slot indicator, every term is a sum over slots of products of per-token features
(intersection ⟨m_i, m_j⟩; union 2k − intersection; phase sum ⟨m cos phi⟩·⟨m cos phi⟩ + ⟨m sin phi⟩·⟨m sin phi⟩)
except |q · q'|. The model computes |q · q'| one slot at a time (`resonant_quaternion="abs"`, the definition; memory
O(heads · L²), never heads · L² · P), or, with `resonant_quaternion="squared"`, (q · q')², which is the inner product
of the 10 products of quaternion components (√2 on the cross terms) and keeps every property above; the whole score
is then three matmuls per head.

**Identity setting:** lambda = 0 (`resonant_lambda_init=0`) is exactly the stock model: conversion copies the weights
and sets lambda = 0. At lambda = 0 only lambda receives gradient; the projections start learning once lambda moves."""


RESONANT = Design(
    name="resonant",
    summary="attention logits + lambda_h * Res(i, j) / T: sparse slot states with quaternion and phase agreement",
    math=MATH,
    fields=ResonantFields,
    identity={"resonant_lambda_init": 0.0},
    active={"resonant_lambda_init": 1.0},
    capabilities=Capabilities(
        conversion="exact",
        cached_generation=True,
        identity_gradient="gate_first",
        discrete_choices=True,
        kernels=(FUSED_KERNEL_KEY,),
    ),
    logit_term=ResonantTerm,
    chosen_layers=layers_in_field("resonant_layers"),
    tasks=("retrieval", "analogy", "mlm", "perplexity"),
    kernels_refused_by=kernel_refusal,
)


class ResonantPureTerm(ResonantTerm):
    """lambda_h · Res_h(i, j) / temperature in place of q·k: lambda, one per head, learns how sharp the maps are."""

    replaces_query_key = True


# No setting of the pure variant is the stock model; conversion starts here and trains (attention transfer).
PURE_START = {"resonant_lambda_init": 5.0}

PURE_MATH = """\
**Pure** (the `resonant_pure_*` model types): the resonance score replaces q·k,

    logits_h(i, j) = lambda_h · Res_h(i, j) / temperature + mask(i, j)

with Res, its slot states and its gradients as in the hybrid design (`resonant_*` fields); q and k are still
computed, for the KV cache, and get no gradient. lambda (one per head) learns how sharp the maps are.

**Conversion** ("trained"): no setting is the stock model. Conversion starts from lambda = 5
(`resonant_lambda_init=5`), fits every layer's resonance projection and lambda to the stock layer's attention maps
(attention transfer: KL(stock ‖ resonant) on the stock layer inputs, `resonant_transfer_steps` full-batch Adam steps,
100 by default) and reports the KL before and after; LoRA training follows."""

RESONANT_PURE = Design(
    name="resonant_pure",
    field_prefix="resonant_",
    summary="attention logits = lambda_h * Res(i, j) / T in place of q·k; converted by attention transfer",
    math=PURE_MATH,
    fields=ResonantFields,
    identity=None,
    active=PURE_START,
    capabilities=Capabilities(
        conversion="trained", cached_generation=True, discrete_choices=True, kernels=(FUSED_KERNEL_KEY,)
    ),
    conversion=ConversionPlan(initialize="hf_archs.designs.resonant.transfer:attention_transfer", start=PURE_START),
    logit_term=ResonantPureTerm,
    chosen_layers=layers_in_field("resonant_layers"),
    tasks=("retrieval", "analogy", "mlm", "perplexity"),
    kernels_refused_by=kernel_refusal,
)
