"""Oscillating attention: each layer sees the sequence in its own direction, cycling through a list of patterns.

Layer l attends with the pattern p(l) = overrides[l] if l is overridden, else patterns[l mod len(patterns)], one of

    bidirectional:  query i may see every key j            (an encoder layer)
    forward:        query i may see the keys j ≤ i          (a causal decoder layer)
    backward:       query i may see the keys j ≥ i          (an anti-causal layer, reading the future only)

combined with padding (a padding key is never seen, whichever side it is on) and, on Gemma 3's sliding-window layers,
with the window |i − j| < W in the layer's direction. The default cycle is (bidirectional, forward, backward).
The attention itself is stock: softmax(q·kᵀ · scaling + mask) v; the design adds no parameters.

Identity settings: every layer `forward` is the stock Llama / Gemma 3 decoder; every layer `bidirectional` is the stock
BERT encoder. A model with any non-causal layer cannot decode left to right with a KV cache (a new token would change
the states of the tokens before it): `generate()` refuses, naming the layers, unless `use_cache=False` (the whole
sequence is recomputed at every step). It is an encoder: embeddings, masked LM, classification.

The room:
- `design.py`: the declaration (config fields, identity per backbone, capabilities, the layers' mask patterns);
- `naive.py`: the float64 reference of a layer's mask and attention, written with loops for clarity;

The masks are built in each layer from the batch's 2D padding mask (`hf_archs/core/masks.py`), so every
`attn_implementation` (eager, sdpa) receives the layer's own explicit mask.
"""

from .design import OSCILLATING


__all__ = ["OSCILLATING"]
