"""Pieces of semantic attention (DESIGN §3.1) shared by every backbone: config fields, tau, the KV-cache layout."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init


@dataclass(kw_only=True)
class SemanticAttentionConfigMixin:
    """Config fields of semantic attention; mixed into each backbone's config class.

    semantic_tau_init: initial tau; 0.0 is the identity setting (the stock model's function).
    semantic_per_head: one tau per head (True) or one per layer shared by its heads.
    semantic_layers: indices of the layers that get the cosine term; None means every layer.
    semantic_eps: floor of |x| in x̂ = x / max(|x|, eps).
    """

    semantic_tau_init: float = 0.0
    semantic_per_head: bool = True
    semantic_layers: list[int] | None = None
    semantic_eps: float = 1e-6

    def validate_semantic_fields(self):
        layers = self.semantic_layers
        if layers is not None:
            bad = [i for i in layers if not 0 <= i < self.num_hidden_layers]
            if bad or len(set(layers)) != len(layers):
                raise ValueError(
                    f"semantic_layers={layers} must be distinct layer indices in [0, {self.num_hidden_layers})."
                )
        if not (self.semantic_eps > 0 and abs(self.semantic_tau_init) < float("inf")):
            raise ValueError("semantic_eps must be > 0 and semantic_tau_init finite.")

    def uses_semantic_attention(self, layer_idx: int) -> bool:
        return self.semantic_layers is None or layer_idx in self.semantic_layers


class SemanticTau(nn.Module):
    """tau: the per-head weight of the cosine term (`weight`, shape (heads,) or (1,)).

    A module rather than a bare parameter so PEFT can train and save it with an adapter
    (`modules_to_save=["semantic_tau"]`).
    """

    hf_archs_design_module = True

    def __init__(self, config, num_heads: int):
        super().__init__()
        self.weight = nn.Parameter(
            torch.full((num_heads if config.semantic_per_head else 1,), config.semantic_tau_init)
        )

    def init_design_weights(self, config):
        init.constant_(self.weight, config.semantic_tau_init)

    def extra_repr(self) -> str:
        return f"heads={self.weight.numel()}"


def update_cache_with_semantic_states(cache, key_states, value_states, semantic_states, layer_idx):
    """Store x̂ of new tokens in the KV cache beside their keys and return keys, values and x̂ of all cached tokens.

    x̂ (batch, L, d) is split over the KV heads and appended to the key head dim: (batch, kv_heads, L, D + d/kv_heads).
    Riding inside the keys, it stays aligned with them under every cache operation (crop, beam reorder, batch
    select) with no cache class of our own.
    """
    batch, kv_heads, length, head_dim = key_states.shape
    semantic_per_head = semantic_states.view(batch, length, kv_heads, -1).transpose(1, 2).to(key_states.dtype)
    keys, values = cache.update(torch.cat([key_states, semantic_per_head], dim=-1), value_states, layer_idx)
    cached_semantic = keys[..., head_dim:].transpose(1, 2).reshape(batch, keys.shape[2], -1)
    return keys[..., :head_dim], values, cached_semantic
