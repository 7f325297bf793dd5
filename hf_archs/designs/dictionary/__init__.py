"""Dictionary context: the feed-forward block of chosen layers gets a second input, a per-token dictionary entry.

The math is `DICTIONARY.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

Cost: one row gather per token and one r × hidden matmul per chosen layer (no attention to dictionary entries, so
O(L)); parameters hidden × r per chosen layer, the table vocab × r (not trained).

The room: `design.py` (fields, the modules, the `Design`, the math), `naive.py` (a loop reference for float64
checks), `table.py` (building the table).
"""

from ...core.design import with_math
from .design import DICTIONARY


__doc__ = with_math(__doc__, DICTIONARY)


__all__ = ["DICTIONARY"]
