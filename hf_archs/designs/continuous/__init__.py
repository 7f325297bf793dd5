"""Continuous positional encoding: the learned table of positions becomes an MLP of the (float) position.

    pe(u) = W2 · GELU(W1 · u + b1) / E² + b2,    W1, b1 ∈ R^E, W2 ∈ R^{d×E}, b2 ∈ R^d

The hidden units are ramps of slope ±E with kinks spread over [0, 1], which sum to about E²/2; divided by E², one Adam
step (which moves every entry of W2 by about lr) moves pe by at most about lr, as it moves a row of the stock table.
Unscaled, one step at lr 5e-4 moved every position's encoding by ~20× MiniLM's token embeddings (training collapsed).

added to the token embeddings in place of the learned position table (BERT's `embeddings.position_embeddings`).
The MLP's input u is
- raw: u = p / scale, p the position (integer or fractional `position_ids`), scale = `max_position_embeddings`
  unless `continuous_scale` says otherwise, so the trained range is [0, 1) and longer inputs extrapolate;
- normalized (`continuous_normalize=True`): u = k / (n − 1) for the k-th of a row's n tokens (0 when n = 1),
  computed per row from the attention mask, so padding on either side does not shift it; [0, 1/3, 2/3, 1] for four
  tokens. Explicit `position_ids` are then taken as such coordinates.

Conversion from a BERT checkpoint fits the MLP to the stock table T (P × d) at u = p / scale, p = 0..P−1: least
squares for W2, b2 on hidden units whose GELU kinks are spread over [0, 1], then Adam on all four weights; the fit
error and the change in the model's outputs are reported (conversion "fitted"). The exact variant
(`continuous_residual_table=True`, a setting, not the design) adds a frozen table R = T − pe at the integer positions
(linearly interpolated between them, defined up to P − 1): pe + R = T reproduces the stock model within float32
rounding, while the MLP trains.

The room:
- `design.py`: the declaration (config fields, the `ContinuousPositionEncoding` module, the `Design`);
- `naive.py`: the float64-checkable reference, written for clarity;
- `conversion.py`: the fit of the MLP to a stock table (conversion code; never travels with checkpoints);

Cost: E · (d + 2) + d parameters instead of P · d; an (L × E) and an (L × E)·(E × d) product per forward.
"""

from .design import CONTINUOUS


__all__ = ["CONTINUOUS"]
