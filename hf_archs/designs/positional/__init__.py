"""The positional-encoding suite: one config switch, `positional_encoding`, picks how token positions p reach the
model, on the backbones where each variant applies: learned, scaled, sinusoidal, continuous, dynamic (absolute);
alibi, t5, relative (biases on the logits); rope, nope.

The math is `POSITIONAL.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

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

Cost against stock: the absolute variants are a table lookup or a tiny MLP (`dynamic`: an MLP of the content per
token, 4d² + 5d + 2 parameters, more than the P × d table it replaces when 4d > P); alibi and t5 add an (H × L × L)
bias (and force the SDPA path through an explicit float mask); relative adds the (L × 2K+1) scores per head and a
d × H·d_r projection per layer. `attn_implementation="positional_triton"` computes the three biases in a fused
flash-style Triton kernel instead (`kernel.py`, `attention.py`): a table over clipped distances gathered per tile, no
(H × L × L) tensor in the forward or the backward.
"""

from ...core.design import with_math
from .design import POSITIONAL


__doc__ = with_math(__doc__, POSITIONAL)


__all__ = ["POSITIONAL"]
