"""Reference oscillating attention for one layer, written with loops for clarity (checked in float64).

    allowed(b, i, j) = padding(b, j) ∧ pattern(i, j) ∧ (|i − j| < W on a sliding-window layer)
    output(b, h, i) = Σ_j softmax_j(scaling · q_h(i)·k_h(j) over the allowed j) v_h(j)

A padding query that sees no key attends to itself (its output is not used).
"""

import torch


def pattern_allows(pattern: str, i: int, j: int) -> bool:
    if pattern == "bidirectional":
        return True
    if pattern == "forward":
        return j <= i
    if pattern == "backward":
        return j >= i
    raise ValueError(pattern)


def oscillating_mask_naive(
    pattern: str, padding_mask: torch.Tensor, sliding_window: int | None = None
) -> torch.Tensor:
    """padding_mask (batch, L), 1 = real token -> boolean (batch, L, L), True = query i may see key j."""
    batch, length = padding_mask.shape
    allowed = torch.zeros(batch, length, length, dtype=torch.bool)
    for b in range(batch):
        for i in range(length):
            for j in range(length):
                in_window = sliding_window is None or abs(i - j) < sliding_window
                allowed[b, i, j] = bool(padding_mask[b, j]) and pattern_allows(pattern, i, j) and in_window
            if not allowed[b, i].any():
                allowed[b, i, i] = True
    return allowed


def attention_naive(query, key, value, allowed: torch.Tensor, *, scaling: float) -> torch.Tensor:
    """query (batch, heads, L, D); key, value (batch, heads, L, D) with the KV heads already repeated; allowed
    (batch, L, L) -> output (batch, heads, L, D)."""
    batch, heads, length, _ = query.shape
    rows = []
    for b in range(batch):
        for h in range(heads):
            for i in range(length):
                visible = allowed[b, i].nonzero().flatten()
                logits = torch.stack([scaling * (query[b, h, i] @ key[b, h, j]) for j in visible])
                weights = torch.softmax(logits, dim=0)
                rows.append((weights[:, None] * value[b, h, visible]).sum(0))
    return torch.stack(rows).view(batch, heads, length, -1)
