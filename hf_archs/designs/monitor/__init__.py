"""The parent's monitor: a side branch on a decoder that scores every token for "this step went wrong".

The math is `MONITOR.math` (`design.py`), the one place it is written: appended below at import, rendered in
the model cards (`model_cards/`) and printed by `hf-archs list --math`.

Generation strategies (`generation.py`): greedy with scores, backtracking (rewind the cache to the last step boundary
when p passes `monitor_threshold`, resample), chain-of-thought retry and a tree of thought (k branches per step,
pruned by anomaly, picked by a value score).

The room:
- `design.py`: the declaration (config fields, the side-branch module, output classes, capabilities, the math);
- `naive.py`: the float64 reference of the monitor, written with loops;
- `generation.py`: the monitored generation strategies.

The experiment (`benchmarks/monitor/`): `data.py`, arithmetic chains with injected errors, token and step labels,
split by error type and position; `detection.py`, AUROC, threshold choice, precision/recall, training of the monitor
and of a linear probe.
"""

from ...core.design import with_math
from .design import MONITOR


__doc__ = with_math(__doc__, MONITOR)


__all__ = ["MONITOR"]
