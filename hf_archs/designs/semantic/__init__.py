"""Semantic attention: the attention logits gain a learnable per-head pull towards similar tokens.

The math is `SEMANTIC.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

The room:
- `design.py`: the declaration (config fields, identity and active settings, capabilities, the logit term, the math);
- `naive.py`: the float64-checkable reference, written for clarity;
- `attention.py`: the fused-kernel key `semantic_triton` (Triton kernel in `kernel.py` on CUDA, reference SDPA path
  elsewhere);

Cost: x̂x̂ᵀ costs as much as QKᵀ over all heads; the SDPA path materializes a (batch, heads, L, L) bias.
"""

from ...core.design import with_math
from .design import SEMANTIC


__doc__ = with_math(__doc__, SEMANTIC)


__all__ = ["SEMANTIC"]
