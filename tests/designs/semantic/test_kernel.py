"""The fused semantic-attention kernel against the float64 naive reference: output and every gradient.

On CPU the Triton kernels run under TRITON_INTERPRET=1 (set in tests/conftest.py before triton is imported) in
float32; tolerance there: max |kernel − ref| ≤ 1e-4 · (1 + max |ref|) for the output and every gradient.
On CUDA (class marked gpu) bf16/fp16: ‖kernel − ref‖ / ‖ref‖ ≤ 1e-2 (bf16: 2e-2 for gradients) per tensor.
Query rows whose keys are all masked give 0 in the kernel (flash's convention) but a uniform average in the naive
reference: they are checked for finiteness, and their output gradient is zeroed so they add nothing to either side.
"""

import os
import zlib

import pytest
import torch

from hf_archs.designs.semantic.kernel import TRITON_AVAILABLE, semantic_attention_fused
from hf_archs.designs.semantic.naive import semantic_attention_naive
from tests.designs.flash_masks import (
    assert_compiled_gradients_match,
    assert_fit_the_h100,
    compile_launches_for_hopper,
    flash_masks,
)


pytestmark = pytest.mark.skipif(not TRITON_AVAILABLE, reason="triton not installed")
CUDA = torch.cuda.is_available()
NAMES = ("query", "key", "value", "x_query", "x_key", "tau")


def _inputs(seed, *, batch, heads, kv_heads, q_len, k_len, head_dim, width, dtype, device):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    xq, xk = r(batch, q_len, width), r(batch, k_len, width)
    return (
        dict(
            query=r(batch, heads, q_len, head_dim),
            key=r(batch, kv_heads, k_len, head_dim),
            value=r(batch, kv_heads, k_len, head_dim),
            x_query=xq / xq.norm(dim=-1, keepdim=True),
            x_key=xk / xk.norm(dim=-1, keepdim=True),
            tau=2 * r(heads),
        ),
        dtype,
        device,
    )


def _run(case_inputs, *, is_causal, padding, window, seed):
    inputs, dtype, device = case_inputs
    batch, heads, q_len, head_dim = inputs["query"].shape
    k_len = inputs["key"].shape[2]
    group = heads // inputs["key"].shape[1]
    scaling = head_dim**-0.5
    valid, kpm = flash_masks(batch, q_len, k_len, padding, is_causal, window)
    row_ok = valid.any(-1, keepdim=True)  # (batch, 1, Lq, 1)
    grad_out = (
        torch.randn(
            batch, heads, q_len, head_dim, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64
        )
        * row_ok
    )

    ref = {n: t.to(device).clone().requires_grad_(True) for n, t in inputs.items()}
    ref_out, _ = semantic_attention_naive(
        ref["query"],
        ref["key"].repeat_interleave(group, 1),
        ref["value"].repeat_interleave(group, 1),
        ref["x_query"],
        ref["x_key"],
        ref["tau"],
        scaling=scaling,
        attention_mask=valid.to(device),
        is_causal=is_causal,
    )
    ref_out.backward(grad_out.to(device))

    ker = {
        n: t.to(device=device, dtype=torch.float32 if n == "tau" else dtype).requires_grad_(True)
        for n, t in inputs.items()
    }
    out = semantic_attention_fused(
        *(ker[n] for n in NAMES),
        scaling=scaling,
        is_causal=is_causal,
        key_padding_mask=None if kpm is None else kpm.to(device),
        sliding_window=window or None,
    )
    out.backward(grad_out.to(device=device, dtype=dtype))
    assert out.dtype == dtype and ker["tau"].grad.dtype == torch.float32
    results = {"out": (out.detach().double().cpu(), ref_out.detach().cpu() * row_ok)}
    for n in NAMES:
        results[n] = (ker[n].grad.double().cpu(), ref[n].grad.cpu())
    for name, (got, _) in results.items():
        assert torch.isfinite(got).all(), name
    return results


def _check_tight(results):
    for name, (got, want) in results.items():
        bound = 1e-4 * (1 + want.abs().max().item())
        err = (got - want).abs().max().item()
        assert err <= bound, f"{name}: max error {err:.3g} > {bound:.3g}"


# (is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, width)
CPU_GRID = [
    (False, "none", None, 19, 19, 4, 2, 32, 48),
    (True, "none", None, 19, 19, 4, 4, 32, 16),
    (True, "left", None, 21, 21, 4, 2, 32, 64),
    (True, "right", None, 17, 17, 2, 2, 64, 32),
    (False, "left", None, 13, 22, 4, 2, 32, 48),
    (True, "none", None, 7, 23, 4, 2, 32, 48),  # prefill with a cache: causal offset Lk - Lq
    (True, "left", None, 9, 20, 4, 4, 64, 16),
    (True, "none", 5, 22, 22, 4, 2, 32, 32),  # sliding window
    (True, "right", 6, 11, 21, 4, 2, 32, 48),
    (False, "none", 4, 18, 18, 2, 1, 32, 16),
]


@pytest.mark.skipif(CUDA, reason="interpreter grid runs where CUDA is absent; the gpu class covers CUDA")
@pytest.mark.parametrize("case", CPU_GRID, ids=lambda c: "-".join(map(str, c)))
def test_kernel_matches_float64_reference_interpreter(case):
    is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, width = case
    assert os.environ.get("TRITON_INTERPRET") == "1"
    seed = zlib.crc32(repr(case).encode())
    inputs = _inputs(
        seed,
        batch=2,
        heads=heads,
        kv_heads=kv_heads,
        q_len=q_len,
        k_len=k_len,
        head_dim=head_dim,
        width=width,
        dtype=torch.float32,
        device="cpu",
    )
    _check_tight(_run(inputs, is_causal=is_causal, padding=padding, window=window, seed=seed))


@pytest.mark.parametrize("case", [CPU_GRID[2], CPU_GRID[6], CPU_GRID[8]], ids=lambda c: "-".join(map(str, c)))
def test_dense_fallback_matches_float64_reference(case, monkeypatch):
    """The PyTorch path inside the op (CPU without the interpreter, fp32 on CUDA): same tolerance."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, width = case
    seed = zlib.crc32(repr(("dense", case)).encode())
    inputs = _inputs(
        seed,
        batch=2,
        heads=heads,
        kv_heads=kv_heads,
        q_len=q_len,
        k_len=k_len,
        head_dim=head_dim,
        width=width,
        dtype=torch.float32,
        device="cuda" if CUDA else "cpu",
    )
    _check_tight(_run(inputs, is_causal=is_causal, padding=padding, window=window, seed=seed))


def _fused(inputs, tau, **kwargs):
    return semantic_attention_fused(
        inputs["query"], inputs["key"], inputs["value"], inputs["x_query"], inputs["x_key"], tau, **kwargs
    )


def test_tau_changes_output_and_scalar_tau():
    device = "cuda" if CUDA else "cpu"
    dtype = torch.bfloat16 if CUDA else torch.float32
    inputs, _, _ = _inputs(
        7, batch=1, heads=2, kv_heads=1, q_len=16, k_len=16, head_dim=32, width=16, dtype=dtype, device=device
    )
    inputs = {n: t.to(device=device, dtype=dtype) for n, t in inputs.items()}
    kwargs = dict(scaling=32**-0.5, is_causal=True)
    zero = _fused(inputs, torch.zeros(2, device=device), **kwargs)
    some = _fused(inputs, torch.full((2,), 3.0, device=device), **kwargs)
    assert (zero - some).abs().max() > 1e-2
    # A scalar tau is broadcast over heads and its gradient comes back summed, in tau's dtype.
    scalar = torch.full((1,), 3.0, device=device, requires_grad=True)
    out = _fused(inputs, scalar, **kwargs)
    torch.testing.assert_close(out, some)
    out.float().square().sum().backward()
    assert scalar.grad.shape == (1,) and scalar.grad.dtype == torch.float32 and scalar.grad.abs().item() > 0


def test_fully_masked_rows_are_finite():
    inputs, _, _ = _inputs(
        3, batch=1, heads=2, kv_heads=2, q_len=16, k_len=16, head_dim=32, width=16, dtype=torch.float32, device="cpu"
    )
    device = "cuda" if CUDA else "cpu"
    dtype = torch.bfloat16 if CUDA else torch.float32
    ker = {
        n: t.to(device=device, dtype=torch.float32 if n == "tau" else dtype).requires_grad_(True)
        for n, t in inputs.items()
    }
    kpm = torch.ones(1, 16, dtype=torch.bool, device=device)
    kpm[0, :5] = False  # left padding + causal: the first 5 queries see nothing
    out = _fused(ker, ker["tau"], scaling=0.2, is_causal=True, key_padding_mask=kpm)
    out.float().sum().backward()
    assert torch.isfinite(out).all() and (out[0, :, :5] == 0).all()
    for n in NAMES:
        assert torch.isfinite(ker[n].grad).all(), n


def test_torch_compile_fullgraph():
    inputs, _, _ = _inputs(
        5, batch=1, heads=4, kv_heads=2, q_len=16, k_len=16, head_dim=32, width=16, dtype=torch.float32, device="cpu"
    )
    device = "cuda" if CUDA else "cpu"
    dtype = torch.bfloat16 if CUDA else torch.float32
    ker = {
        n: t.to(device=device, dtype=torch.float32 if n == "tau" else dtype).requires_grad_(True)
        for n, t in inputs.items()
    }

    def f(q, k, v, xq, xk, tau):
        return semantic_attention_fused(q, k, v, xq, xk, tau, scaling=0.2, is_causal=True).float().square().sum()

    assert_compiled_gradients_match(f, ker, NAMES)


GPU_GRID = [
    (c, p, w, lq, lk, h, kvh, hd)
    for hd in (64, 128, 256)
    for (c, p, w, lq, lk, h, kvh) in [
        (True, "none", None, 2048, 2048, 8, 2),
        (False, "none", None, 1000, 1000, 4, 4),
        (True, "left", None, 777, 777, 4, 2),
        (True, "right", None, 513, 513, 4, 1),
        (True, "none", None, 300, 1200, 4, 2),
        (True, "left", 256, 1100, 1100, 4, 2),
        (False, "right", None, 640, 640, 4, 2),
    ]
]


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
class TestGPU:
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
    @pytest.mark.parametrize("case", GPU_GRID, ids=lambda c: "-".join(map(str, c)))
    def test_kernel_matches_float64_reference_gpu(self, case, dtype):
        is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim = case
        seed = zlib.crc32(repr((case, str(dtype))).encode())
        inputs = _inputs(
            seed,
            batch=2,
            heads=heads,
            kv_heads=kv_heads,
            q_len=q_len,
            k_len=k_len,
            head_dim=head_dim,
            width=heads * head_dim,
            dtype=dtype,
            device="cuda",
        )
        results = _run(inputs, is_causal=is_causal, padding=padding, window=window, seed=seed)
        for name, (got, want) in results.items():
            rel = ((got - want).norm() / want.norm()).item()
            bound = 1e-2 if name == "out" or dtype == torch.float16 else 2e-2
            print(f"{name}: rel {rel:.2e}")
            assert rel <= bound, f"{name}: relative error {rel:.3g} > {bound}"


HOPPER_LAUNCHES = """
import torch
from hf_archs.designs.semantic import kernel

for dtype in (torch.bfloat16, torch.float16):
    for head_dim in (64, 128, 256):
        q = torch.zeros(2, 4, 96, head_dim, dtype=dtype)
        k, v = torch.zeros(2, 2, 96, head_dim, dtype=dtype), torch.zeros(2, 2, 96, head_dim, dtype=dtype)
        x = torch.zeros(2, 96, 32, dtype=dtype)
        args = (x, x, torch.ones(4), torch.ones(2, 96, dtype=torch.bool))
        out, lse = kernel._triton_forward(q, k, v, *args, 0.1, True, 32)
        kernel._triton_backward(q, q, k, v, *args, out, lse, 0.1, True, 32)
"""


@pytest.mark.slow  # ~1-2 min: 24 compilations through ptxas
def test_kernels_compile_for_hopper_without_a_gpu():
    """The four kernels in bf16 and fp16 (what CUDA runs) at head_dim 64 / 128 / 256, with the op's tiles and the
    arguments its launches pass (causal, a window, key padding, GQA), compile for sm_90 (the H100) down to the cubin
    and fit its shared memory; no GPU is needed."""
    pytest.importorskip("triton.backends.nvidia")
    launches = compile_launches_for_hopper(HOPPER_LAUNCHES)
    assert len(launches) == 24
    assert_fit_the_h100(launches)
