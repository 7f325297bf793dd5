"""What the flash-style kernels' tests share: their masks (causal with the queries last, a sliding window, key
padding on either side) and the torch.compile gradient check."""

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


def assert_compiled_gradients_match(f, inputs: dict, names) -> None:
    """`torch.compile(f, fullgraph=True)` (Inductor on CUDA, aot_eager on the CPU) gives the gradients of `f` run
    eagerly, for every tensor of `inputs` named in `names` (in `f`'s argument order)."""
    compiled = torch.compile(f, fullgraph=True, backend="inductor" if torch.cuda.is_available() else "aot_eager")
    compiled(*(inputs[n] for n in names)).backward()
    grads = [inputs[n].grad.clone() for n in names]
    for n in names:
        inputs[n].grad = None
    f(*(inputs[n] for n in names)).backward()
    for n, g in zip(names, grads):
        torch.testing.assert_close(g, inputs[n].grad, msg=n)
