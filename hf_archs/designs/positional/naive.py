"""Reference positional encodings, written for clarity rather than speed (checked in float64): one position, one
channel, one (query, key) pair at a time.

sinusoidal:  pe(p)_{2k} = a·sin(p·ω_k), pe(p)_{2k+1} = a·cos(p·ω_k), ω_k = 10000^(−2k/d)
learned:     T[p]; scaled: T[p]·s[p]; float p linear between ⌊p⌋ and ⌊p⌋ + 1
continuous:  W2 · GELU(W1 · p/P + b1) / E² + b2
dynamic:     out = x⊙c + (S(p)⊙s) ⊙ σ((V2 · GELU(V1 · x + e1) + e2) · f_c) ⊙ σ(ℓ/P · f_ℓ), S the unit sinusoid,
             ℓ = 1 + the row's last position (the embeddings, not an addend)
alibi:       B_h(i, j) = −m_h·|p_i − p_j|
t5:          B_h(i, j) = b[bucket(p_j − p_i), h]
relative:    B_h(i, j) = Σ_c (x_i W_r)_{h,c} · a[clip(p_j − p_i, −K, K), h, c] / √d_r
"""

import math

import torch

from ..continuous.naive import encode as mlp_encode
from ..continuous.naive import gelu


def sinusoidal(positions: torch.Tensor, width: int, amplitude: float = 1.0) -> torch.Tensor:
    """(..., L) -> (..., L, width), channel by channel."""
    flat = positions.reshape(-1)
    rows = []
    for n in range(flat.numel()):
        channels = []
        for channel in range(width):
            k = channel // 2
            angle = flat[n].double() * 10000.0 ** (-2 * k / width)
            channels.append(amplitude * (torch.sin(angle) if channel % 2 == 0 else torch.cos(angle)))
        rows.append(torch.stack(channels))
    return torch.stack(rows).reshape(*positions.shape, width)


def table_at(table: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(P, ...) table at (..., L) float positions, linear between neighbouring rows."""
    flat = positions.reshape(-1)
    rows = []
    for p in flat:
        low = math.floor(p.item())
        high = min(low + 1, len(table) - 1)
        fraction = p - low  # differentiable in p: the table's slope between the two rows
        rows.append(table[low] * (1 - fraction) + table[high] * fraction)
    return torch.stack(rows).reshape(*positions.shape, *table.shape[1:])


def scaled(table: torch.Tensor, scale: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    return table_at(table, positions) * table_at(scale, positions)[..., None]


def continuous(positions: torch.Tensor, rows: int, w1, b1, w2, b2, hidden_scale: float) -> torch.Tensor:
    return mlp_encode(positions / rows, w1, b1, w2, b2, hidden_scale)


def dynamic(positions: torch.Tensor, content: torch.Tensor, max_positions: int, params: dict) -> torch.Tensor:
    """(batch, L) positions and (batch, L, d) content -> (batch, L, d), one token at a time. params: content_scale c,
    position_scale s, gate_in.weight/bias (V1, e1), gate_out.weight/bias (V2, e2), content_factor f_c,
    length_factor f_ℓ."""
    batch, length, width = content.shape
    rows = []
    for b in range(batch):
        row_length = max(positions[b, j] for j in range(length)) + 1  # the row's own length, not the batch's
        length_gate = torch.sigmoid(row_length / max_positions * params["length_factor"])
        tokens = []
        for j in range(length):
            x = content[b, j]
            hidden = gelu(params["gate_in.weight"] @ x + params["gate_in.bias"])
            content_gate = torch.sigmoid(
                (params["gate_out.weight"] @ hidden + params["gate_out.bias"]) * params["content_factor"]
            )
            signal = sinusoidal(positions[b, j], width) * params["position_scale"]
            tokens.append(x * params["content_scale"] + signal * content_gate * length_gate)
        rows.append(torch.stack(tokens))
    return torch.stack(rows)


def alibi_slope(head: int, num_heads: int) -> float:
    """m_h of head h (0-based): 2^(−8(h+1)/n) among the first n = 2^⌊log2 H⌋ heads, then 2^(−4(2r+1)/n) for the r-th
    of the remaining heads (every other slope of 2n heads)."""
    closest = 2 ** math.floor(math.log2(num_heads))
    if head < closest:
        return 2 ** (-8 * (head + 1) / closest)
    return 2 ** (-8 * (2 * (head - closest) + 1) / (2 * closest))


def t5_bucket(relative: float, bidirectional: bool, num_buckets: int, max_distance: int) -> int:
    """T5's bucket of one relative position key − query, as in the T5 paper's code."""
    relative = round(relative)
    bucket = 0
    if bidirectional:
        num_buckets //= 2
        if relative > 0:
            bucket += num_buckets
        relative = abs(relative)
    else:
        relative = max(-relative, 0)
    exact = num_buckets // 2
    if relative < exact:
        return bucket + relative
    large = exact + int(math.log(relative / exact) / math.log(max_distance / exact) * (num_buckets - exact))
    return bucket + min(large, num_buckets - 1)


def bias(variant: str, positions: torch.Tensor, num_heads: int, *, hidden=None, params=None, options=None):
    """(batch, L) positions -> (batch, heads, L, L) bias, one (head, query, key) at a time. Positions serve both as
    queries and keys (a full forward)."""
    batch, length = positions.shape
    options = options or {}
    rows = []
    for b in range(batch):
        heads = []
        if variant == "relative":
            projected = (hidden[b] @ params["query"].T).reshape(length, num_heads, -1)
        for h in range(num_heads):
            grid = []
            for i in range(length):
                row = []
                for j in range(length):
                    distance = positions[b, j] - positions[b, i]
                    r = distance.item()
                    if variant == "alibi":
                        row.append(-alibi_slope(h, num_heads) * distance.abs())
                    elif variant == "t5":
                        row.append(params["bucket_bias"][t5_bucket(r, **options), h])
                    else:
                        k = options["max_distance"]
                        a = params["distance_embedding"][max(-k, min(k, round(r))) + k, h]
                        row.append(projected[i, h] @ a / math.sqrt(a.numel()))
                grid.append(torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in row]))
            heads.append(torch.stack(grid))
        rows.append(torch.stack(heads))
    return torch.stack(rows)
