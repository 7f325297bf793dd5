"""Reference semantic attention, written for clarity rather than speed.

    logits_h(i, j) = scaling * q_h(i)·k_h(j) + tau_h * cos(x_i, x_j) + mask(i, j)

`x_query`/`x_key` are the unit-normalized attention inputs x̂ = x / max(|x|, eps): one L×L similarity
shared by every head of the layer. Everything else is stock scaled dot-product attention.
"""

import torch

from ...core.attention import attention_naive


def unit_normalize(hidden_states: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x̂ = x / max(|x|, eps), computed in at least float32 and returned in the input dtype."""
    x = hidden_states.to(torch.promote_types(hidden_states.dtype, torch.float32))
    return (x / x.norm(dim=-1, keepdim=True).clamp_min(eps)).to(hidden_states.dtype)


def cosine_similarity_matrix(x_query: torch.Tensor, x_key: torch.Tensor) -> torch.Tensor:
    """(batch, Lq, d) x (batch, Lk, d) unit vectors -> (batch, 1, Lq, Lk) cosines, broadcast over heads."""
    return torch.matmul(x_query, x_key.transpose(-1, -2)).unsqueeze(1)


def semantic_bias(tau: torch.Tensor, x_query: torch.Tensor, x_key: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The design's term tau_h · cos(x_i, x_j): (batch, heads, Lq, Lk), or (batch, 1, Lq, Lk) for one shared tau."""
    return tau.to(dtype).view(1, -1, 1, 1) * cosine_similarity_matrix(x_query, x_key).to(dtype)


def semantic_attention_naive(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    x_query: torch.Tensor | None,
    x_key: torch.Tensor | None,
    tau: torch.Tensor | None,
    **options,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Semantic attention with every intermediate materialized: `attention_naive` with the bias tau_h · cos(x_i, x_j).

    Args:
        query: (batch, heads, Lq, head_dim); key, value: (batch, heads, Lk, head_dim), KV heads already repeated.
        x_query: (batch, Lq, d) and x_key: (batch, Lk, d), unit-normalized attention inputs.
        tau: (heads,) or (1,), the weight of the cosine term per head. `tau=None` drops the term (stock attention).
        options: `attention_naive`'s keywords (scaling, attention_mask, is_causal, dropout, training).

    Returns:
        output (batch, heads, Lq, head_dim) and the attention probabilities (batch, heads, Lq, Lk).
    """
    bias = None if tau is None else semantic_bias(tau, x_query, x_key, query.dtype)
    return attention_naive(query, key, value, bias, **options)
