"""The parent's monitor: a side branch on a decoder that scores every token for "this step went wrong".

For each monitored layer l (`monitor_layers`, default: the last one), with x_i = LayerNorm(h_i^l) the output hidden
state of layer l at position i normalized without affine weights (the scale of a decoder's residual stream varies
by orders of magnitude between layers and models):

    window(i)  = { j : i − W < j ≤ i, j not padding }                       (never a later position)
    a_l(i, j)  = softmax_{j ∈ window(i)} ( (Q_l x_i)_h · (K_l x_j)_h / sqrt(d_h) )   per head h
    c_l(i)     = O_l [ Σ_j a_l(i, j) (V_l x_j)_h ]_h                         (cross-attention to earlier states)
    z_i        = concat_l [ c_l(i), S_l x_i ]                                 (what came before, what is now)
    s_i        = w_2 · GELU(W_1 z_i + b_1) + b_2,    anomaly score p_i = σ(s_i)

W = `monitor_window`, d = `monitor_dim` split into `monitor_heads` heads. The model output carries
`anomaly_logits` s and `anomaly_scores` p, shape (batch, L). The branch reads the hidden states through forward
hooks and returns nothing to the main path, so logits, hidden states, the KV cache and `generate()` are the stock
model's bitwise, for any monitor weights.

Decoding with a KV cache: pass `monitor_memory` (the stacked states of the monitored layers at earlier positions,
returned as `monitor_memory` by a call that received one; start with `torch.empty(0)`) and the full 2D padding
mask; a cached call without it returns None scores rather than scores that could not see the window.

Training: a per-token binary cross-entropy on s against labels of tokens known to be wrong (arithmetic chains with
injected errors, `benchmarks/monitor/data.py`), the base frozen (or LoRA). Generation strategies (`generation.py`):
greedy with scores, backtracking (rewind the cache to the last step boundary when p passes `monitor_threshold`,
resample), chain-of-thought retry and a tree of thought (k branches per step, pruned by anomaly, picked by a value
score).

The room:
- `design.py`: the declaration (config fields, the side-branch module, output classes, capabilities);
- `naive.py`: the float64 reference of the monitor, written with loops;
- `generation.py`: the monitored generation strategies.

The experiment (`benchmarks/monitor/`): `data.py`, arithmetic chains with injected errors, token and step labels,
split by error type and position; `detection.py`, AUROC, threshold choice, precision/recall, training of the monitor
and of a linear probe.
"""

from .design import MONITOR


__all__ = ["MONITOR"]
