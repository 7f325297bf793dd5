"""Multi-scale layers: a layer's output becomes a fusion of full transformer layers of several widths.

The math is `MULTISCALE.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

The room:
- `design.py`: the declaration (config fields, the `MultiScaleLayer` module, the `Design`, the math);
- `naive.py`: the float64 references of one multi-scale BERT and Llama layer and of the BERT block after the
  encoder, every operation written out;

Cost per multi-scale layer, relative to the stock layer: parameters and FLOPs of the branches grow about with
Σ_{s<d} (s/d)² for the attention and MLP weights (the projections add d · Σ_{s<d} s, Fuse d · Σs), attention
score FLOPs with Σ_{s<d} s/d; for the default scales the layer has 1 + (1/36 + 1/9 + 4/9) ≈ 1.58 times the stock
weights plus the projections and Fuse (see `benchmarks/multiscale.py` for measured ratios).
"""

from ...core.design import with_math
from .design import MULTISCALE


__doc__ = with_math(__doc__, MULTISCALE)


__all__ = ["MULTISCALE"]
