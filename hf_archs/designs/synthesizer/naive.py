"""Reference synthesizer attention, written for clarity rather than speed (loops over heads and position pairs).

    logits_h(i, j) = scaling · q_h(i)·k_h(j) + a_h · F(x_i)[h, p_j] + b_h · T[h, p_i, p_j] + mask(i, j)

F(x) = W2 · relu(W1 · x + b1) + b2 gives heads × M logits per query token; T is a heads × M × M table. A fractional
position p reads (1 − w)·v[⌊p⌋] + w·v[⌊p⌋ + 1], w = p − ⌊p⌋ (the upper index clamped to M − 1).
"""

import math

import torch


def at_position(values: torch.Tensor, position: float) -> torch.Tensor:
    """values (M,) read at a possibly fractional position, linearly interpolated."""
    lower = math.floor(position)
    upper = min(lower + 1, values.shape[0] - 1)
    weight = position - lower
    return (1 - weight) * values[lower] + weight * values[upper]


def synthesizer_bias_naive(
    x_query: torch.Tensor,
    query_positions: torch.Tensor,
    key_positions: torch.Tensor,
    *,
    num_heads: int,
    max_positions: int,
    dense: tuple | None = None,
    table: torch.Tensor | None = None,
    random_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The synthesized logits (batch, heads, Lq, Lk).

    x_query (batch, Lq, d) attention inputs; query_positions (batch, Lq), key_positions (batch, Lk) absolute positions.
    dense: (W1, b1, W2, b2, a) of the dense kind, or None; table (heads, M, M) and random_weight (heads,) of the random
    kind, or None.
    """
    batch, query_length, _ = x_query.shape
    key_length = key_positions.shape[-1]
    bias = x_query.new_zeros(batch, num_heads, query_length, key_length)
    for b in range(batch):
        for i in range(query_length):
            if dense is not None:
                w1, b1, w2, b2, a = dense
                logits = (w2 @ torch.relu(w1 @ x_query[b, i] + b1) + b2).view(num_heads, max_positions)
            for h in range(num_heads):
                if table is not None:
                    # T[h, p_i, :] read at the query's position (interpolating whole rows), then at the key's.
                    row = torch.stack(
                        [at_position(table[h, :, m], query_positions[b, i].item()) for m in range(max_positions)]
                    )
                for j in range(key_length):
                    p_j = key_positions[b, j].item()
                    if dense is not None:
                        bias[b, h, i, j] = bias[b, h, i, j] + a[h] * at_position(logits[h], p_j)
                    if table is not None:
                        bias[b, h, i, j] = bias[b, h, i, j] + random_weight[h] * at_position(row, p_j)
    return bias
