"""Synthesizer attention (Tay et al. 2020, "Synthesizer: Rethinking Self-Attention"), mixed with dot-product attention.

Synthesized logits do not compare a query with a key; they are produced per position pair:

- dense: a 2-layer feed-forward net of the query token gives one logit per key position,
      D_h(i, j) = F(x_i)[h, p_j],   F(x) = W2 · relu(W1 · x + b1) + b2,   W2: r -> heads × M;
- random: a learned table per head, independent of the tokens,
      R_h(i, j) = T[h, p_i, p_j],   T: heads × M × M.

p_i is the absolute position of token i (the position the model itself uses: RoPE's on Llama and Gemma 3, the
position embedding's on BERT), so the term is right under KV-cache offsets and left padding. M =
`synthesizer_max_positions`, by default the backbone's `max_position_embeddings`; a position outside [0, M − 1] is
refused with an error. Fractional positions (float
`position_ids`) interpolate linearly between the two neighbouring integer positions (bilinearly for T), so an
integer position is an exact lookup.

The mixture with dot-product attention is additive, with one learned weight per head and kind:

    logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + a_h · D_h(i, j) + b_h · R_h(i, j) (+ mask)

a = b = 0 is exactly the stock model, so conversion copies the weights and sets the weights to zero (at that point
only a and b get gradient; F and T get gradient once a step moves a, b off zero). The paper's mixture
α·S_syn + (1 − α)·S_dot also rescales q·k; keeping q·k fixed is what makes zero the identity.

Cost: the per-token features are the position p as three numbers exact in bfloat16 (`core.attention.encode_positions`)
plus, for the dense kind, the r pre-activations W1·x + b1; they ride in the KV cache, so every layer caches 3 (random)
or r + 3 (dense) extra numbers per token, rounded up to a multiple of the KV heads, against 2 · kv_heads · head_dim
for K and V. Parameters per layer: d·r + r + r·heads·M + heads·M (dense), heads·M² (random), 2·heads (weights).
Compute: the dense bias is a gather of the (batch, heads, Lq, M) net outputs at the key positions, the random bias a
gather of the table; the SDPA path materializes a (batch, heads, Lq, Lk) bias.

The room: `design.py` (fields, the logit term, the `Design`) and `naive.py` (a loop reference for float64 checks).
"""

from .design import SYNTHESIZER


__all__ = ["SYNTHESIZER"]
