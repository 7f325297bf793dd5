"""Synthesizer attention (Tay et al. 2020, "Synthesizer: Rethinking Self-Attention"), mixed with dot-product attention.

The math is `SYNTHESIZER.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

Cost: the per-token features are the position p as three numbers exact in bfloat16 (`core.attention.encode_positions`)
plus, for the dense kind, the r pre-activations W1·x + b1; they ride in the KV cache, so every layer caches 3 (random)
or r + 3 (dense) extra numbers per token, rounded up to a multiple of the KV heads, against 2 · kv_heads · head_dim
for K and V. Parameters per layer: d·r + r + r·heads·M + heads·M (dense), heads·M² (random), 2·heads (weights).
Compute: the dense bias is a gather of the (batch, heads, Lq, M) net outputs at the key positions, the random bias a
gather of the table; the SDPA path materializes a (batch, heads, Lq, Lk) bias.

The room: `design.py` (fields, the logit term, the `Design`, the math) and `naive.py` (a loop reference for float64
checks).
"""

from ...core.design import with_math
from .design import SYNTHESIZER


__doc__ = with_math(__doc__, SYNTHESIZER)


__all__ = ["SYNTHESIZER"]
