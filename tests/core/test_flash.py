"""core.flash: the key padding a mask stands for, when the fused kernels can express it."""

import subprocess
import sys

import torch

from hf_archs.core.attention import causal_mask
from hf_archs.core.flash import key_padding_from_mask


def test_key_padding_is_read_from_masks_the_kernel_can_express():
    keep = torch.ones(2, 6, dtype=torch.bool)
    keep[0, :2] = False  # left padding
    causal = causal_mask(6, 6, "cpu")
    mask = (keep[:, None, None, :] & causal).clone()
    assert torch.equal(key_padding_from_mask(mask, is_causal=True, sliding_window=None), keep)
    windowed = mask & (torch.arange(6)[:, None] - torch.arange(6)[None, :] < 3)
    assert torch.equal(key_padding_from_mask(windowed, is_causal=True, sliding_window=3), keep)
    packed = mask.clone()
    packed[1, 0, 4, :3] = False  # a second sequence starting at position 3: not padding ∧ causal
    assert key_padding_from_mask(packed, is_causal=True, sliding_window=None) is None
    additive = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)  # eager's masks: 0 = attend
    assert torch.equal(key_padding_from_mask(additive, is_causal=True, sliding_window=None), keep)


def test_the_kernel_modules_import_without_triton():
    """Saved checkpoints' remote code runs where Triton may be missing: the fused kernels' modules must still import
    (they failed to, with `key_range` defined only under Triton, in the remote-code check on the newest release)."""
    code = (
        "import sys; sys.modules['triton'] = None\n"  # `import triton` now raises ImportError
        "from hf_archs.designs.semantic import kernel\n"
        "from hf_archs.designs.resonant import kernel\n"
        "from hf_archs.designs.positional import kernel\n"
        "from hf_archs.core.flash import TRITON_AVAILABLE; assert not TRITON_AVAILABLE\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
