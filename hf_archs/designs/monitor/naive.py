"""Reference monitor, written with loops for clarity (checked in float64 against `design.ParentMonitor`).

x_i = LayerNorm(h_i) without affine weights
window(i) = { j : i − W < j ≤ i, mask_j = 1 }
c(i) = O [ Σ_{j ∈ window(i)} softmax_j((Q x_i)_h · (K x_j)_h / sqrt(d_h)) (V x_j)_h ]_h
s_i = w_2 · GELU(W_1 concat_l [c_l(i), S_l x_i] + b_1) + b_2
"""

import math

import torch
from torch.nn import functional as F


def layer_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean()
    variance = ((x - mean) ** 2).mean()
    return (x - mean) / torch.sqrt(variance + eps)


def linear(module, x: torch.Tensor) -> torch.Tensor:
    return module.weight.double() @ x + module.bias.double()


def reader_naive(reader, states: torch.Tensor, mask: torch.Tensor, window: int, i: int) -> torch.Tensor:
    """concat[c(i), S x_i] for position i of one sequence: states (L, hidden), mask (L,) of 0/1."""
    x = [layer_norm(states[j]) for j in range(states.shape[0])]
    heads = reader.heads
    head_dim = reader.query.out_features // heads
    query = linear(reader.query, x[i]).view(heads, head_dim)
    visible = [j for j in range(max(0, i - window + 1), i + 1) if mask[j] == 1]
    context = torch.zeros(heads, head_dim, dtype=torch.float64)
    for h in range(heads):
        logits = torch.stack(
            [query[h] @ linear(reader.key, x[j]).view(heads, head_dim)[h] / math.sqrt(head_dim) for j in visible]
        )
        weights = logits.softmax(0)
        for weight, j in zip(weights, visible, strict=True):
            context[h] += weight * linear(reader.value, x[j]).view(heads, head_dim)[h]
    return torch.cat([linear(reader.output, context.reshape(-1)), linear(reader.state, x[i])])


def monitor_logits_naive(monitor, hidden_states: dict[int, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """(batch, L) anomaly logits of the real (mask = 1) positions; padding positions are left at 0."""
    batch, length = mask.shape
    out = torch.zeros(batch, length, dtype=torch.float64)
    for b in range(batch):
        for i in range(length):
            if mask[b, i] == 0:
                continue
            z = torch.cat(
                [
                    reader_naive(reader, hidden_states[layer][b].double(), mask[b], monitor.window, i)
                    for layer, reader in zip(monitor.layers_read, monitor.readers, strict=True)
                ]
            )
            out[b, i] = linear(monitor.score, F.gelu(linear(monitor.hidden, z)))[0]
    return out
