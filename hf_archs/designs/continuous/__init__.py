"""Continuous positional encoding: the learned table of positions becomes an MLP of the (float) position.

The math is `CONTINUOUS.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

The room:
- `design.py`: the declaration (config fields, the `ContinuousPositionEncoding` module, the `Design`, the math);
- `naive.py`: the float64-checkable reference, written for clarity;
- `conversion.py`: the fit of the MLP to a stock table (conversion code; never travels with checkpoints);

Cost: E · (d + 2) + d parameters instead of P · d; an (L × E) and an (L × E)·(E × d) product per forward.
"""

from ...core.design import with_math
from .design import CONTINUOUS


__doc__ = with_math(__doc__, CONTINUOUS)


__all__ = ["CONTINUOUS"]
