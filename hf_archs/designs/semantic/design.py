"""The semantic design, declared once: config fields, identity/active settings, capabilities, the logit term."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from ...core.attention import LogitTerm
from ...core.design import Capabilities, Design, DesignFields, check_layer_indices, layers_in_field
from .attention import FUSED_KERNEL_KEY, semantic_fused_attention
from .naive import semantic_bias, unit_normalize


@dataclass(kw_only=True)
class SemanticFields(DesignFields):
    """Config fields of semantic attention.

    semantic_tau_init: initial tau; 0.0 is the identity setting (the stock model's function).
    semantic_per_head: one tau per head (True) or one per layer shared by its heads.
    semantic_layers: indices of the layers that get the cosine term; None means every layer.
    semantic_eps: floor of |x| in x̂ = x / max(|x|, eps).
    """

    semantic_tau_init: float = 0.0
    semantic_per_head: bool = True
    semantic_layers: list[int] | None = None
    semantic_eps: float = 1e-6

    def validate_design_fields(self):
        check_layer_indices("semantic_layers", self.semantic_layers, self.num_hidden_layers)
        if not (self.semantic_eps > 0 and abs(self.semantic_tau_init) < float("inf")):
            raise ValueError("semantic_eps must be > 0 and semantic_tau_init finite.")


class SemanticTerm(LogitTerm):
    """tau_h · cos(x_i, x_j) on one layer. `weight` is tau, shape (heads,) or (1,); the features are x̂.

    Attached to the attention layer as `semantic_tau`, so PEFT can train and save it with an adapter
    (`modules_to_save=["semantic_tau"]`).
    """

    attribute_name = "semantic_tau"
    kernels = {FUSED_KERNEL_KEY: semantic_fused_attention}

    def __init__(self, config):
        super().__init__()
        heads = config.num_attention_heads if config.semantic_per_head else 1
        self.weight = nn.Parameter(torch.full((heads,), float(config.semantic_tau_init)))
        self.eps = config.semantic_eps
        self.num_features = config.hidden_size

    def features(self, hidden_states):
        return unit_normalize(hidden_states, self.eps)

    def bias(self, query_features, key_features, dtype):
        return semantic_bias(self.weight, query_features, key_features, dtype)

    def init_design_weights(self, config):
        init.constant_(self.weight, config.semantic_tau_init)

    def coefficients(self):
        # A copy: under FSDP the gathered parameter's storage is freed when the call ends.
        return self.weight.clone()

    def extra_repr(self) -> str:
        return f"heads={self.weight.numel()}"


MATH = """\
For head h of a chosen layer, with x the attention's input (after the layer's input norm on a pre-norm backbone):

    logits_h(i, j) = s · q_h(i)·k_h(j) + tau_h · cos(x_i, x_j) + mask(i, j)

s is the backbone's attention scaling (1/√head_dim; query_pre_attn_scalar^−1/2 on Gemma 3) and q, k are the stock
ones (rotated and normed as the backbone does). cos(x_i, x_j) = x̂_i·x̂_j with x̂ = x / max(‖x‖, eps)
(`semantic_eps`): one L×L similarity shared by every head of the layer. tau (`semantic_tau.weight`) is one learnable
scalar per head, or one per layer shared by its heads (`semantic_per_head=False`), in each layer of `semantic_layers`
(default: every layer). The mask (padding, causal, sliding window) applies to the sum; the rest of the layer is stock.

**Identity setting:** tau = 0 (`semantic_tau_init=0`) is exactly the stock model: conversion copies the weights,
sets tau = 0 and checks it. tau gets gradient there already (∂logits_h(i, j)/∂tau_h = cos(x_i, x_j))."""


SEMANTIC = Design(
    name="semantic",
    summary="attention logits + tau_h * cos(x_i, x_j): a learnable per-head pull towards similar tokens",
    math=MATH,
    fields=SemanticFields,
    identity={"semantic_tau_init": 0.0},
    active={"semantic_tau_init": 0.5},
    capabilities=Capabilities(conversion="exact", cached_generation=True, kernels=(FUSED_KERNEL_KEY,)),
    logit_term=SemanticTerm,
    chosen_layers=layers_in_field("semantic_layers"),
    tasks=("retrieval", "mlm", "perplexity"),
)
