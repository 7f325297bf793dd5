"""Resonant attention: tokens as sparse slot states; attention logits gain their resonance (hybrid, `RESONANT`) or
are it (pure, `RESONANT_PURE`).

The math is `RESONANT.math` and `RESONANT_PURE.math` (`design.py`), the one place it is written: appended below at
import, rendered in the model cards (`model_cards/`) and printed by `hf-archs list --math`.

The room:
- `design.py`: the declaration (config fields, identity and active settings, capabilities, the logit term);
- `naive.py`: the slot states, the float64-checkable reference score and its two fast forms;
- `kernel.py`: the fused Triton kernel of the squared form (flash-style tiles, Res per tile, never L×L);
- `attention.py`: its `attn_implementation` key, `resonant_triton` (the "abs" form is refused there);
- `transfer.py`: the pure variant's conversion (attention transfer); conversion code, never loaded with a checkpoint;

Cost: the score of a layer holds O(heads · L²) memory, never heads · L² · P (|q · q'| is summed one slot at a time);
with `resonant_quaternion="squared"` it is three matmuls of per-token features per head. The features (heads · P · 6
per token) ride in the KV cache.
"""

from ...core.design import with_math
from .design import RESONANT, RESONANT_PURE


__doc__ = with_math(__doc__, RESONANT, RESONANT_PURE)


__all__ = ["RESONANT", "RESONANT_PURE"]
