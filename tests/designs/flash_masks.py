"""What the flash-style kernels' tests share: their masks (causal with the queries last, a sliding window, key
padding on either side), the torch.compile gradient check, and compiling the kernels for the H100 without a GPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

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


# Every Triton launch the code after it makes is compiled for sm_90 (the H100) instead of run: the launch's real
# arguments are bound and specialized as Triton's launcher does (unit strides become constants, tuples of strides
# element by element), then compiled down to the cubin; one JSON line per launch.
_COMPILE_LAUNCHES_FOR_HOPPER = """
import json
import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import CUDABackend
from triton.compiler import ASTSource
from triton.runtime import jit

TARGET = GPUTarget("cuda", 90, 32)
BACKEND = CUDABackend(TARGET)


def compile_instead_of_run(self, *args, grid, warmup, **kwargs):
    binder = jit.create_function_from_signature(self.signature, self.params, BACKEND)
    bound, specialization, options = binder(*args, **kwargs)
    options, signature, constexprs, attrs = self._pack_args(BACKEND, kwargs, bound, specialization, options)
    compiled = triton.compile(ASTSource(self, signature, constexprs, attrs), target=TARGET, options=options.__dict__)
    print(json.dumps(dict(kernel=self.fn.__name__, shared=compiled.metadata.shared)), flush=True)


jit.JITFunction.run = compile_instead_of_run
"""


def compile_launches_for_hopper(launches: str) -> list[dict]:
    """Run the Python code `launches` (CPU tensors, no TRITON_INTERPRET) in a fresh process where every Triton kernel
    launch is compiled for sm_90 instead of run; each launch's kernel name and shared memory in bytes. The interpreter
    accepts code that Triton's compiler refuses (an early return in a static `if`, a loop-carried variable changing
    type) and launches that would not fit a GPU; this catches both without a GPU."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    code = _COMPILE_LAUNCHES_FOR_HOPPER + launches
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def assert_fit_the_h100(launches: list[dict]) -> None:
    """Every compiled launch fits the H100's 227 KiB of shared memory per block."""
    too_large = [launch for launch in launches if launch["shared"] > 227 * 1024]
    assert not too_large, too_large
