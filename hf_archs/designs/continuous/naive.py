"""Reference continuous position encoding, written for clarity rather than speed (checked in float64).

u = p / scale                      (raw positions; scale = the trained length by default)
u = index among the row's tokens / (n - 1)   (normalized positions; n = the row's token count)
pe(u) = W2 · GELU(W1 · u + b1) / E² + b2    (W1, b1: (E,); W2: (d, E); b2: (d,))
exact variant: pe(p) + R[p], R the frozen residual table, linearly interpolated at fractional p
"""

import math

import torch


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU(x) = x · Φ(x), Φ the standard normal CDF."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def encode(u: torch.Tensor, w1, b1, w2, b2, hidden_scale: float = 1.0) -> torch.Tensor:
    """(..., L) coordinates -> (..., L, d): W2 · (GELU(W1 · u + b1) · hidden_scale) + b2, one position at a time.

    The continuous design's hidden_scale is 1 / E² (as the positional switch's `continuous`); 1 is the plain MLP."""
    flat = u.reshape(-1)
    rows = [w2 @ (gelu(w1 * flat[i] + b1) * hidden_scale) + b2 for i in range(flat.numel())]
    return torch.stack(rows).reshape(*u.shape, -1)


def normalized_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, L) mask (1 = token) -> (batch, L): the k-th token of a row with n tokens gets k / (n - 1) (0 if n = 1);
    padding gets 0. Written as a loop over rows and tokens."""
    positions = torch.zeros(attention_mask.shape, dtype=torch.float64)
    for row in range(attention_mask.shape[0]):
        tokens = [j for j in range(attention_mask.shape[1]) if attention_mask[row, j]]
        for k, j in enumerate(tokens):
            positions[row, j] = k / (len(tokens) - 1) if len(tokens) > 1 else 0.0
    return positions


def interpolate_table(table: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(P, d) table at float positions (..., L) -> (..., L, d), linear between neighbouring rows."""
    flat = positions.reshape(-1)
    rows = []
    for p in flat.tolist():
        low = math.floor(p)
        high = min(low + 1, table.shape[0] - 1)
        rows.append(table[low] * (1 - (p - low)) + table[high] * (p - low))
    return torch.stack(rows).reshape(*positions.shape, -1)
