"""Reference multi-scale BERT layer, written for clarity rather than speed (checked in float64).

One BERT layer of width w with h heads of size w / h (post-LN), input z (L, w), additive mask m (L, L):

    q, k, v = z Wqᵀ + bq, z Wkᵀ + bk, z Wvᵀ + bv                 split into h heads of size w / h
    a_head = softmax(q_head k_headᵀ / sqrt(w / h) + m) v_head       concatenated over heads
    u = LN1(z + a Woᵀ + bo)
    Block(z) = LN2(u + GELU(u W1ᵀ + b1) W2ᵀ + b2)                    GELU(t) = t Φ(t)

The multi-scale layer, for narrower widths s and the full width d (the stock layer, P_d = identity):

    y = concat(Block_s(x P_sᵀ + p_s) for s < d, Block_d(x)) Fᵀ + f
"""

import math

import torch


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x · Φ(x), Φ the standard normal CDF."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias


def bert_layer(z: torch.Tensor, w: dict, heads: int, mask: torch.Tensor, eps: float) -> torch.Tensor:
    """One post-LN BERT layer on one sequence z (L, width); `w` holds the weights under their stock names (relative
    to the layer), `mask` (L, L) is additive. Heads are computed one at a time."""
    width = z.shape[-1]
    size = width // heads
    q = z @ w["attention.self.query.weight"].T + w["attention.self.query.bias"]
    k = z @ w["attention.self.key.weight"].T + w["attention.self.key.bias"]
    v = z @ w["attention.self.value.weight"].T + w["attention.self.value.bias"]
    outputs = []
    for head in range(heads):
        part = slice(head * size, (head + 1) * size)
        scores = q[:, part] @ k[:, part].T / math.sqrt(size) + mask
        outputs.append(torch.softmax(scores, dim=-1) @ v[:, part])
    attention = torch.cat(outputs, dim=-1)
    attention = attention @ w["attention.output.dense.weight"].T + w["attention.output.dense.bias"]
    u = layer_norm(z + attention, w["attention.output.LayerNorm.weight"], w["attention.output.LayerNorm.bias"], eps)
    hidden = gelu(u @ w["intermediate.dense.weight"].T + w["intermediate.dense.bias"])
    out = hidden @ w["output.dense.weight"].T + w["output.dense.bias"]
    return layer_norm(u + out, w["output.LayerNorm.weight"], w["output.LayerNorm.bias"], eps)


def multiscale_bert_layer(
    x: torch.Tensor,
    stock: dict,
    branches: list[dict],
    projections: list[tuple[torch.Tensor, torch.Tensor]],
    fuse: tuple[torch.Tensor, torch.Tensor],
    heads: list[int],
    mask: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    """y = Fuse(concat(Block_s(P_s x) for the narrower branches, Block_d(x))) on one sequence x (L, d).

    branches/projections/heads: per narrower branch, its layer weights, (P_s weight, bias) and head count; `heads[-1]`
    is the stock layer's."""
    outputs = []
    for weights, (p_weight, p_bias), branch_heads in zip(branches, projections, heads[:-1]):
        outputs.append(bert_layer(x @ p_weight.T + p_bias, weights, branch_heads, mask, eps))
    outputs.append(bert_layer(x, stock, heads[-1], mask, eps))
    fuse_weight, fuse_bias = fuse
    return torch.cat(outputs, dim=-1) @ fuse_weight.T + fuse_bias
