"""Reference multi-scale BERT layer, written for clarity rather than speed (checked in float64).

One BERT layer of width w with h heads of size w / h (post-LN), input z (L, w), additive mask m (L, L):

    q, k, v = z Wqᵀ + bq, z Wkᵀ + bk, z Wvᵀ + bv                 split into h heads of size w / h
    a_head = softmax(q_head k_headᵀ / sqrt(w / h) + m) v_head       concatenated over heads
    u = LN1(z + a Woᵀ + bo)
    Block(z) = LN2(u + GELU(u W1ᵀ + b1) W2ᵀ + b2)                    GELU(t) = t Φ(t)

The multi-scale layer, for narrower widths s and the full width d (the stock layer, P_d = identity):

    y = concat(Block_s(x P_sᵀ + p_s) for s < d, Block_d(x)) Fᵀ + f

The block after the encoder, on the last layer's output h, with a new full-width layer Block'_d:

    y = h + concat(Block_s(h P_sᵀ + p_s) for s < d, Block'_d(h)) Fᵀ + f

One Llama layer (pre-norm) of width w with h query heads and g KV heads of size D, positions t, causal mask:

    RMS(z) = z / sqrt(mean(z²) + eps) · weight
    q, k, v = RMS1(z) Wqᵀ, RMS1(z) Wkᵀ, RMS1(z) Wvᵀ;  q, k rotated by RoPE at t (inverse frequencies theta^(-2i/D))
    a_head = softmax(q_head k_{head // (h/g)}ᵀ / sqrt(D) + m) v_{head // (h/g)}
    u = z + a Woᵀ;    Block(z) = u + (SiLU(RMS2(u) Wgateᵀ) ⊙ RMS2(u) Wupᵀ) Wdownᵀ
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


def bert_block_after_encoder(h, branches, projections, fuse, heads, mask, eps) -> torch.Tensor:
    """y = h + Fuse(concat(Block_s(P_s h) for s < d, Block'_d(h))) on one sequence h (L, d), the last layer's output:
    h plus the multi-scale layer whose full-width branch is the new layer `branches[-1]` (P_d = identity). The other
    arguments are `multiscale_bert_layer`'s."""
    return h + multiscale_bert_layer(h, branches[-1], branches[:-1], projections, fuse, heads, mask, eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt((x**2).mean(-1, keepdim=True) + eps) * weight


def rope_angles(positions: torch.Tensor, head_dim: int, theta: float) -> torch.Tensor:
    """(..., L) positions -> (..., L, D/2) angles t · theta^(-2i/D), in float64."""
    inverse_frequencies = theta ** (-torch.arange(head_dim // 2, dtype=torch.float64) * 2 / head_dim)
    return positions[..., None].to(torch.float64) * inverse_frequencies


def rotate(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """RoPE in the half-split layout: pairs (x_i, x_{i + D/2}) rotated by the angle t · theta^(-2i/D)."""
    half = x.shape[-1] // 2
    angles = rope_angles(positions, x.shape[-1], theta)  # (L, D/2)
    first, second = x[..., :half], x[..., half:]
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


def llama_layer(z, w: dict, heads: int, kv_heads: int, head_dim: int, positions, mask, eps: float, theta: float):
    """One Llama layer on one sequence z (L, width); `w` holds the weights under their stock names (relative to the
    layer), `mask` (L, L) is additive (causal and padding)."""
    normed = rms_norm(z, w["input_layernorm.weight"], eps)
    q = normed @ w["self_attn.q_proj.weight"].T
    k = normed @ w["self_attn.k_proj.weight"].T
    v = normed @ w["self_attn.v_proj.weight"].T
    outputs = []
    for head in range(heads):
        group = head // (heads // kv_heads)
        q_head = rotate(q[:, head * head_dim : (head + 1) * head_dim], positions, theta)
        k_head = rotate(k[:, group * head_dim : (group + 1) * head_dim], positions, theta)
        scores = q_head @ k_head.T / math.sqrt(head_dim) + mask
        outputs.append(torch.softmax(scores, dim=-1) @ v[:, group * head_dim : (group + 1) * head_dim])
    u = z + torch.cat(outputs, dim=-1) @ w["self_attn.o_proj.weight"].T
    normed = rms_norm(u, w["post_attention_layernorm.weight"], eps)
    gate = normed @ w["mlp.gate_proj.weight"].T
    hidden = gate * torch.sigmoid(gate) * (normed @ w["mlp.up_proj.weight"].T)
    return u + hidden @ w["mlp.down_proj.weight"].T


def multiscale_llama_layer(x, stock, branches, projections, fuse, shapes, positions, mask, eps, theta):
    """The multi-scale Llama layer on one sequence; `shapes` holds (heads, kv_heads, head_dim) per branch, the stock
    layer's last."""
    outputs = []
    for weights, (p_weight, p_bias), shape in zip(branches, projections, shapes[:-1]):
        outputs.append(llama_layer(x @ p_weight.T + p_bias, weights, *shape, positions, mask, eps, theta))
    outputs.append(llama_layer(x, stock, *shapes[-1], positions, mask, eps, theta))
    fuse_weight, fuse_bias = fuse
    return torch.cat(outputs, dim=-1) @ fuse_weight.T + fuse_bias
