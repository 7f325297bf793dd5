"""Semantic attention: the attention logits gain a learnable per-head pull towards similar tokens.

    logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + tau_h · cos(x_i, x_j) (+ mask)

x is the attention input (after the layer's input norm on Llama and Gemma 3, the block input on BERT) and
cos(x_i, x_j) = x̂_i·x̂_j with x̂ = x / max(‖x‖, eps): one L×L similarity shared by every head of a layer. tau is one
learnable scalar per head (or per layer: `semantic_per_head=False`) in each layer of `semantic_layers`; tau = 0 is
exactly the stock model, so conversion copies the weights and sets tau = 0.

The room:
- `design.py`: the declaration (config fields, identity and active settings, capabilities, the logit term);
- `naive.py`: the float64-checkable reference, written for clarity;
- `attention.py`: the fused-kernel key `semantic_triton` (Triton kernel in `kernel.py` on CUDA, reference SDPA path
  elsewhere);

Cost: x̂x̂ᵀ costs as much as QKᵀ over all heads; the SDPA path materializes a (batch, heads, L, L) bias.
"""

from .design import SEMANTIC


__all__ = ["SEMANTIC"]
