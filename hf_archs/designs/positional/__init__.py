"""The positional-encoding suite: one config switch, `positional_encoding`, picks how token positions p reach the
model, on the backbones where each variant applies.

Absolute encodings, added to the token embeddings in place of the learned table (BERT):
- learned:     pe(p) = T[p]                       (the stock table; identity on BERT, conversion copies it exactly)
- scaled:      pe(p) = T[p] · s[p]                 (a learned scale per position, initialized to 1: also exact)
- sinusoidal:  pe(p)_{2k} = a·sin(p·ω_k), pe(p)_{2k+1} = a·cos(p·ω_k),  ω_k = 10000^(−2k/d), fixed
- continuous:  pe(p) = W2 · GELU(W1 · p/P + b1) / E² + b2  (P = max_position_embeddings)
- dynamic:     x + pe(p) becomes x⊙c + (S(p)⊙s) ⊙ σ(MLP(x)·f_c) ⊙ σ(ℓ/P·f_ℓ): the unit sinusoid S gated per channel by
               the content x (word + token-type embeddings; MLP = Linear(d, 2d) → GELU → Linear(2d, d)) and by the
               row's own length ℓ; c, s per-channel scales, f_c, f_ℓ scalars. Initialized to equal `sinusoidal`.
Float positions are linear between the rows of a table; positions beyond a table are refused.

Relative encodings, a per-head bias on the attention logits (every backbone; RoPE is dropped on the decoders and the
learned table on BERT):
    logits_h(i, j) = q_i · k_j / √d + B_h(i, j) + mask(i, j)
- alibi:     B_h = −m_h · |p_i − p_j|,  m_h = 2^(−8h/H) (H a power of two; otherwise the usual interleaving)
- t5:        B_h = b[bucket(p_j − p_i), h]: |r| < N/2 (per direction) its own bucket, then logarithmic up to a max
             distance, the last bucket beyond; bidirectional buckets on an encoder, one-sided on a decoder
- relative:  B_h = (x_i W_r)_h · a[clip(p_j − p_i, −K, K), h] / √d_r   (Shaw et al.: a learned embedding per clipped
             distance, dotted with the term's own per-head query projection W_r)
The features of each token are its position (and x W_r): keys in the KV cache keep their positions, so distances
are right under cached decoding and left padding.

- rope: q and k rotated by position (the decoders' own; identity there, conversion exact).
- nope: no position signal; on a decoder the causal mask alone orders the tokens.

The seed's code had bugs, fixed here and tested (tests/designs/positional):
1. sinusoidal exponent: `10000 ** (2 * i / d)` with i stepping by 2 gives ω_k = 10000^(−4k/d), so the lower half of
   the frequencies never appears; here ω_k = 10000^(−2k/d) (`sinusoidal_table`).
2. relative scores: `matmul(q, rel_emb.transpose(-2, -1))` with q (b, h, L, d) and rel_emb (L, L, d) contracts the
   wrong axes (it does not broadcast to (b, h, L, L)); here each query is scored against each of the 2K + 1 distance
   embeddings and every key picks its distance: B(i, j) = q_i · a[clip(j − i)].
3. inverted target mask: `triu(ones, 1) == 0` marks the allowed positions True where PyTorch's `tgt_mask` reads True
   as "masked", so each token saw only the future; here the masks are Transformers' own (True = attend) and a test
   checks that no variant lets a decoder token see a later one.
4. dynamic encoding (`DynamicPositionEncoding`): (a) its sinusoid called `np.log` with numpy never imported (a
   NameError at the first forward); the suite's `sinusoidal_table` is used. (b) Its length L was the padded batch
   length, so padding a row, or batching it with a longer one, changed every one of its tokens' encodings; here ℓ is
   each row's own length and positions are counted per row from the attention mask (padding on either side changes
   nothing). (c) The length gate makes a token's encoding depend on the final length of its row, which a decoder
   does not know while decoding (keys cached at length ℓ would not match a recompute at ℓ + 1): an encoder always
   sees the whole row, so the gate stays there; the variant is refused on the decoders (which also have no position
   table to replace). (d) Its content rescaling x·c cannot be avoided but starts at c = 1, with both gates at 1/2 and
   s = 4a: at initialization `dynamic` is exactly `sinusoidal`, so its conversion has the sinusoidal fidelity.
   (e) It zeroed the output at padding, which changes nothing for real tokens (padding is masked as keys): dropped.

Conversion: learned (BERT) and rope (decoders) are the identity, exact within float32 rounding; every other variant
removes the stock encoding, so the converted model's difference from the stock one is reported and LoRA (with the
variant's new parameters trained in full) adapts it.

Cost against stock: the absolute variants are a table lookup or a tiny MLP (`dynamic`: an MLP of the content per
token, 4d² + 5d + 2 parameters, more than the P × d table it replaces when 4d > P); alibi and t5 add an (H × L × L)
bias (and force the SDPA path through an explicit float mask); relative adds the (L × 2K+1) scores per head and a
d × H·d_r projection per layer.
"""

from .design import POSITIONAL


__all__ = ["POSITIONAL"]
