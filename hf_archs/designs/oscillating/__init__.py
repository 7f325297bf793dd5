"""Oscillating attention: each layer sees the sequence in its own direction, cycling through a list of patterns.

The math is `OSCILLATING.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

The room:
- `design.py`: the declaration (config fields, identity per backbone, capabilities, the layers' mask patterns, the
  math);
- `naive.py`: the float64 reference of a layer's mask and attention, written with loops for clarity;

The masks are built in each layer from the batch's 2D padding mask (`hf_archs/core/masks.py`), so every
`attn_implementation` (eager, sdpa) receives the layer's own explicit mask.
"""

from ...core.design import with_math
from .design import OSCILLATING


__doc__ = with_math(__doc__, OSCILLATING)


__all__ = ["OSCILLATING"]
