"""The masks of the flash-style kernels' tests: causal (queries last), a sliding window, key padding on either side."""

import torch


def flash_masks(batch, q_len, k_len, padding, is_causal, window):
    """(batch, 1, Lq, Lk) bool, True = attend, and the (batch, Lk) key padding mask handed to the kernel."""
    kpm = None
    if padding != "none":
        kpm = torch.ones(batch, k_len, dtype=torch.bool)
        if padding == "left":
            kpm[0, : k_len // 3] = False
        else:
            kpm[-1, k_len - k_len // 3 :] = False
    qpos = torch.arange(q_len)[:, None] + (k_len - q_len)
    kpos = torch.arange(k_len)[None, :]
    valid = torch.ones(q_len, k_len, dtype=torch.bool)
    if is_causal:
        valid &= kpos <= qpos
    if window:
        valid &= qpos - kpos < window
    valid = valid.expand(batch, 1, q_len, k_len)
    if kpm is not None:
        valid = valid & kpm[:, None, None, :]
    return valid, kpm
