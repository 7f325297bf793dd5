"""Semantic attention behind Transformers' attention interface.

Every function here has the signature of a Transformers attention function
(`fn(module, query, key, value, attention_mask, scaling=..., dropout=..., **kwargs)`) and reads the design's
inputs from two extra keyword arguments that the semantic attention layers pass:

- `semantic_query_states`: (batch, Lq, d) unit-normalized attention inputs of the queries,
- `semantic_key_states`: (batch, Lk, d) the same for the keys (from the KV cache when decoding),

and the per-head weight from `module.semantic_tau.weight`. A layer without `semantic_tau` (a layer left stock by
`semantic_layers`) gets plain attention, so one table serves the whole model.
"""

import torch
from torch.nn import functional as F
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_utils import AttentionInterface
from transformers.utils import logging

from .naive import additive_mask, semantic_attention_naive, semantic_bias


logger = logging.get_logger(__name__)

# The attention key reserved for the fused GPU kernel (tiles of x̂x̂ᵀ computed on the fly, no L×L tensor).
FUSED_KERNEL_KEY = "semantic_triton"


def _semantic_inputs(module, kwargs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    tau_module = getattr(module, "semantic_tau", None)
    x_query = kwargs.pop("semantic_query_states", None)
    x_key = kwargs.pop("semantic_key_states", None)
    if tau_module is None:
        return None
    if x_query is None or x_key is None:
        raise ValueError(
            f"{type(module).__name__} has a semantic_tau but was called without semantic_query_states/"
            "semantic_key_states: call it through a semantic attention layer."
        )
    return tau_module.weight, x_query, x_key


def _repeat_kv(states: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, kv_heads, L, D) -> (batch, heads, L, D) for grouped-query attention."""
    return states.repeat_interleave(num_heads // states.shape[1], dim=1)


def semantic_eager_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The reference path (`attn_implementation="eager"`): the naive math, attention weights returned."""
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    # A layer left stock by `semantic_layers` has no semantic inputs: the same math without the cosine term.
    tau, x_query, x_key = _semantic_inputs(module, kwargs) or (None, None, None)
    output, probabilities = semantic_attention_naive(
        query,
        _repeat_kv(key, query.shape[1]),
        _repeat_kv(value, query.shape[1]),
        x_query,
        x_key,
        tau,
        scaling=scaling,
        attention_mask=attention_mask,
        is_causal=getattr(module, "is_causal", False),
        dropout=dropout,
        training=module.training,
    )
    return output.transpose(1, 2).contiguous(), probabilities


def semantic_sdpa_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """`attn_implementation="sdpa"`: torch SDPA with the cosine term folded into a float attention mask.

    The (batch, heads, Lq, Lk) bias is materialized, so this path costs O(L²·H) memory: the fused kernel exists to
    avoid exactly that.
    """
    semantic = _semantic_inputs(module, kwargs)
    if semantic is None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    tau, x_query, x_key = semantic
    bias = semantic_bias(tau, x_query, x_key, query.dtype)
    mask = additive_mask(
        attention_mask,
        is_causal=getattr(module, "is_causal", False),
        query_length=query.shape[2],
        key_length=key.shape[2],
        dtype=query.dtype,
        device=query.device,
    )
    if mask is not None:
        bias = bias + mask
    output = F.scaled_dot_product_attention(
        query,
        _repeat_kv(key, query.shape[1]),
        _repeat_kv(value, query.shape[1]),
        attn_mask=bias,
        dropout_p=dropout if module.training else 0.0,
        scale=scaling,
    )
    return output.transpose(1, 2).contiguous(), None


def semantic_fused_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """`attn_implementation="semantic_triton"`: reserved for the fused Triton kernel.

    The kernel is not part of this release; until it lands this key runs the SDPA path and says so once.
    """
    logger.warning_once(
        f"attn_implementation='{FUSED_KERNEL_KEY}': the fused semantic-attention kernel is not available in this "
        "version of hf-archs; running the reference SDPA path instead (same function, O(L²·H) memory)."
    )
    return semantic_sdpa_attention(
        module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
    )


class DesignAttentionInterface(AttentionInterface):
    """The attention functions a design accepts, keyed like `attn_implementation`.

    Unlike Transformers' global table it has no fallback: a key the design has no function for (say
    `flash_attention_2`, which cannot add the cosine term) is an error, never a silent stock path.
    """

    def __init__(self, design: str, functions: dict):
        super().__init__()
        self.design = design
        self._local_mapping.update(functions)

    def __contains__(self, key) -> bool:
        return key in self._local_mapping

    def __iter__(self):
        return iter(self._local_mapping)

    def __len__(self) -> int:
        return len(self._local_mapping)

    def get_interface(self, attn_implementation: str, default=None):
        if attn_implementation not in self._local_mapping:
            raise ValueError(
                f"{self.design} attention cannot run with attn_implementation={attn_implementation!r}: the stock "
                f"kernel would drop the design's term. Use one of {sorted(self._local_mapping)}."
            )
        return self._local_mapping[attn_implementation]


SEMANTIC_ATTENTION_FUNCTIONS = DesignAttentionInterface(
    "semantic",
    {"eager": semantic_eager_attention, "sdpa": semantic_sdpa_attention, FUSED_KERNEL_KEY: semantic_fused_attention},
)

# The kernel key is global so `from_pretrained(..., attn_implementation="semantic_triton")` validates; it needs a mask
# function too, or Transformers silently builds no mask for it.
AttentionInterface.register(FUSED_KERNEL_KEY, semantic_fused_attention)
AttentionMaskInterface.register(FUSED_KERNEL_KEY, sdpa_mask)
