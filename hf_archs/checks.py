"""`hf-archs check DIR`: find non-finite values in a saved checkpoint before they surface as NaN losses."""

from pathlib import Path

import torch
from safetensors import safe_open


def non_finite_tensors(directory: str | Path) -> dict[str, int]:
    """Tensor name -> number of NaN/inf values, over every safetensors file in `directory`."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"No *.safetensors files in {directory}.")
    bad = {}
    for path in files:
        with safe_open(path, framework="pt") as weights:
            for name in weights.keys():
                tensor = weights.get_tensor(name)
                if tensor.is_floating_point():
                    count = int((~torch.isfinite(tensor)).sum())
                    if count:
                        bad[name] = count
    return bad
