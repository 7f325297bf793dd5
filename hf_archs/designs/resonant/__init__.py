"""Resonant attention: tokens as sparse slot states; attention logits gain their resonance.

Per head, a learned projection of the attention input x_i (after the input norm on Llama and Gemma 3, the block input
on BERT) gives P slot logits l_ip, P quaternions q_ip (normalized to unit length) and P phases phi_ip. The active
set A_i is the top-k slots of l_i. Between tokens i and j:

    Res(i, j) = a · |A_i ∩ A_j| / |A_i ∪ A_j|
              + b · mean over p ∈ A_i ∩ A_j of |q_ip · q_jp|
              + c · (mean over p ∈ A_i ∩ A_j of cos(phi_ip − phi_jp) + 1) / 2,     a + b + c = 1, a, b, c ≥ 0,

and Res(i, j) = 0 when A_i ∩ A_j is empty. So 0 ≤ Res ≤ 1, Res(i, j) = Res(j, i), Res(i, i) = 1, and flipping the
sign of any quaternion changes nothing.

Hybrid (this package's model types):

    logits_h(i, j) = q_h(i)·k_h(j) / sqrt(head_dim) + lambda_h · Res_h(i, j) / temperature (+ mask)

with lambda learned per head; lambda = 0 is exactly the stock model, so conversion copies the weights and sets
lambda = 0.

Pure (the `resonant_pure_*` model types): logits_h(i, j) = lambda_h · Res_h(i, j) / temperature (+ mask), Res in place
of q·k. No setting is the stock model; conversion fits the resonance projections and lambda to the stock attention maps
(attention transfer, `transfer.py`) and reports the KL before and after.

Gradients: top-k has none, so the active-set indicator m uses a straight-through estimator,
m = topk_indicator(l) + sigmoid(l) − stop_gradient(sigmoid(l)): exact 0/1 values forward, sigmoid'(l) backward.

Cost: with m the 0/1 slot indicator, every term is a sum over slots of products of per-token features
(intersection ⟨m_i, m_j⟩; union 2k − intersection; phase sum ⟨m cos phi⟩·⟨m cos phi⟩ + ⟨m sin phi⟩·⟨m sin phi⟩)
except |q · q'|. The model computes |q · q'| one slot at a time (memory O(heads · L²), never heads · L² · P), or, with
`resonant_quaternion="squared"`, (q · q')², which is the inner product of the 10 products of quaternion components
(√2 on the cross terms) and keeps every property above; the whole score is then three matmuls per head.

The room:
- `design.py`: the declaration (config fields, identity and active settings, capabilities, the logit term);
- `naive.py`: the slot states, the float64-checkable reference score and its two fast forms;
- `transfer.py`: the pure variant's conversion (attention transfer); conversion code, never loaded with a checkpoint;
"""

from .design import RESONANT, RESONANT_PURE


__all__ = ["RESONANT", "RESONANT_PURE"]
