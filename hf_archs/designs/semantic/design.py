"""The semantic design, declared once: config fields, identity/active settings, capabilities, the logit term."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from ...core.attention import LogitTerm
from ...core.design import Capabilities, Design, DesignFields, check_layer_indices
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


SEMANTIC = Design(
    name="semantic",
    summary="attention logits + tau_h * cos(x_i, x_j): a learnable per-head pull towards similar tokens",
    math=(
        "logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + tau_h · cos(x_i, x_j) (+ mask), where x is the attention "
        "input (after the input norm for Llama and Gemma 3, the layer input for BERT) and cos is one L×L matrix "
        "shared by the heads of a layer. tau (`semantic_tau.weight`, one per head) is learned; tau = 0 is exactly "
        "the stock model."
    ),
    fields=SemanticFields,
    identity={"semantic_tau_init": 0.0},
    active={"semantic_tau_init": 0.5},
    capabilities=Capabilities(conversion="exact", cached_generation=True, kernels=(FUSED_KERNEL_KEY,)),
    logit_term=SemanticTerm,
    chosen_layers=lambda config: (
        list(range(config.num_hidden_layers)) if config.semantic_layers is None else sorted(config.semantic_layers)
    ),
    tasks=("retrieval", "mlm", "perplexity"),
)
