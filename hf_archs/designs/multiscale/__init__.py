"""Multi-scale layers: a layer's output becomes a fusion of full transformer layers of several widths.

    y = Fuse(concat_s Block_s(P_s x)),    s ∈ scales (default d/6, d/3, 2d/3, d; [64, 128, 256, 384] for d = 384)

x is the layer input (batch, L, d). For each narrower width s < d, P_s is Linear(d → s) (with bias) and Block_s a
full layer of the backbone's family at width s: attention with s / head_dim heads of the stock head dim (KV heads
scaled alike, at least one), an MLP of width intermediate_size · s / d, the family's norms, residuals and dropout;
it runs on the model's own masks (causal, sliding window, padding), rotary embeddings and KV cache, where it keeps a
cache layer of its own. The full-width branch is the stock layer itself, with P_d = identity (a learned d × d map
in front of a layer whose first operations are linear would mostly re-parametrize the stock weights, and would
cost d² parameters per layer). Fuse is Linear(Σs → d) with bias on the concatenation.

Identity setting: Fuse = [0 | I], bias 0, selects the full-width branch, so the converted model computes the stock
model exactly (0 · a + 1 · b = b in floating point); the narrower branches are initialized like the family's layers
and contribute once Fuse's columns for them move off zero (`multiscale_branch_weight` draws them N(0, w²) instead).
At the identity only Fuse gets gradient; every other new weight gets it after one step (capability
`identity_gradient="gate_first"`).

Where it sits (`multiscale_placement`):
- "layers" (default): the chosen stock layers (`multiscale_layers`, default every layer) become multi-scale layers
  as above;
- "after_encoder": one multi-scale block after the last layer (before a decoder's final norm), on its output h:

      y = h + Fuse(concat_s Block_s(P_s h))

  where every width, the full one included, is a new layer of the family (P_d = identity), so the stock model is
  untouched and the block adds capacity on top; identity setting Fuse = 0 (exact: h + 0 = h).
Branch layers are not layers of the model: `output_hidden_states` and `output_attentions` keep one entry per stock
layer (with "after_encoder", the last layer's entry is y).

The room:
- `design.py`: the declaration (config fields, the `MultiScaleLayer` module, the `Design`);
- `naive.py`: the float64 references of one multi-scale BERT and Llama layer and of the BERT block after the
  encoder, every operation written out;

Cost per multi-scale layer, relative to the stock layer: parameters and FLOPs of the branches grow about with
Σ_{s<d} (s/d)² for the attention and MLP weights (the projections add d · Σ_{s<d} s, Fuse d · Σs), attention
score FLOPs with Σ_{s<d} s/d; for the default scales the layer has 1 + (1/36 + 1/9 + 4/9) ≈ 1.58 times the stock
weights plus the projections and Fuse (see `benchmarks/multiscale.py` for measured ratios).
"""

from .design import MULTISCALE


__all__ = ["MULTISCALE"]
