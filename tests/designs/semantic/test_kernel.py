"""The fused Triton kernel against the float64 reference, on fresh random inputs: outputs and every gradient.

On a machine without CUDA the kernels run under Triton's interpreter (tests/conftest.py sets TRITON_INTERPRET=1) in
float32, on shapes that span several tiles; on CUDA the same grid runs in bf16 and fp16 at model-like head sizes.
"""

import pytest
import torch

from hf_archs.designs.semantic.kernel import TRITON_AVAILABLE, semantic_attention_fused
from hf_archs.designs.semantic.naive import semantic_attention_naive, unit_normalize


pytestmark = pytest.mark.skipif(not TRITON_AVAILABLE, reason="needs Triton")

NAMES = ["query", "key", "value", "x_query", "x_key", "tau"]


def _case(seed, *, batch, heads, kv_heads, q_len, k_len, head_dim, width, padding, device="cpu", layout="bhld"):
    g = torch.Generator(device=device).manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float64)

    def heads_first(heads, length):
        # "blhd": as attention layers make them, (batch, L, heads, D) projections viewed as (batch, heads, L, D).
        return (
            r(batch, heads, length, head_dim)
            if layout == "bhld"
            else r(batch, length, heads, head_dim).transpose(1, 2)
        )

    inputs = dict(
        query=heads_first(heads, q_len),
        key=heads_first(kv_heads, k_len),
        value=r(batch, kv_heads, k_len, head_dim),  # keys and values with different strides
        x_query=unit_normalize(r(batch, q_len, width)),
        x_key=unit_normalize(r(batch, k_len, width)),
        tau=r(heads),
    )
    keep = None
    if padding == "left":
        keep = torch.ones(batch, k_len, dtype=torch.bool, device=device)
        keep[0, : k_len // 3] = False
    elif padding == "right":
        keep = torch.ones(batch, k_len, dtype=torch.bool, device=device)
        keep[-1, -(k_len // 4) :] = False
    return inputs, keep


def _reference_mask(keep, *, batch, q_len, k_len, is_causal, window, device):
    query_positions = torch.arange(q_len, device=device)[:, None] + (k_len - q_len)
    key_positions = torch.arange(k_len, device=device)[None, :]
    allowed = torch.ones(q_len, k_len, dtype=torch.bool, device=device)
    if is_causal:
        allowed &= key_positions <= query_positions
    if window is not None:
        allowed &= query_positions - key_positions < window
    allowed = allowed.expand(batch, 1, q_len, k_len)
    return allowed if keep is None else allowed & keep[:, None, None, :]


def _compare(inputs, keep, *, dtype, is_causal, window, scaling, generator_seed):
    """Relative errors (output, each gradient) of the kernel in `dtype` against float64, on rows that see a key."""
    reference_inputs = {n: t.detach().clone().requires_grad_() for n, t in inputs.items()}
    kernel_inputs = {n: t.detach().to(dtype).clone().requires_grad_() for n, t in inputs.items()}
    kernel_inputs["tau"] = inputs["tau"].float().clone().requires_grad_()  # a float32 parameter in models
    batch, heads, q_len, _ = inputs["query"].shape
    k_len = inputs["key"].shape[2]
    mask = _reference_mask(keep, batch=batch, q_len=q_len, k_len=k_len, is_causal=is_causal, window=window,
                           device=inputs["query"].device)  # fmt: skip
    group = heads // inputs["key"].shape[1]
    expected, _ = semantic_attention_naive(
        reference_inputs["query"],
        reference_inputs["key"].repeat_interleave(group, 1),
        reference_inputs["value"].repeat_interleave(group, 1),
        reference_inputs["x_query"],
        reference_inputs["x_key"],
        reference_inputs["tau"],
        scaling=scaling,
        attention_mask=mask,
    )
    actual = semantic_attention_fused(
        *(kernel_inputs[n] for n in NAMES), scaling=scaling, is_causal=is_causal, key_padding_mask=keep,
        sliding_window=window,
    )  # fmt: skip
    # A query that may see no key (padding) outputs 0 in the kernel and the mean value in the reference: not compared.
    sees = mask.any(-1, keepdim=True)  # (batch, 1, Lq, 1)
    g = torch.Generator(device=expected.device).manual_seed(generator_seed)
    grad_output = torch.randn(expected.shape, generator=g, device=expected.device, dtype=torch.float64) * sees
    expected_grads = torch.autograd.grad(expected, [reference_inputs[n] for n in NAMES], grad_output)
    actual_grads = torch.autograd.grad(actual, [kernel_inputs[n] for n in NAMES], grad_output.to(dtype))
    assert torch.isfinite(actual).all() and all(torch.isfinite(a).all() for a in actual_grads)

    def relative(a, b):
        return ((a.double() - b).norm() / b.norm().clamp_min(1e-30)).item()

    errors = {"output": relative(actual * sees, expected * sees)}
    errors.update({name: relative(a, e) for name, a, e in zip(NAMES, actual_grads, expected_grads)})
    return errors


GRID = [
    # (is_causal, padding, window, heads, kv_heads, q_len, k_len, head_dim, width, layout)
    (True, None, None, 4, 2, 33, 33, 16, 24, "blhd"),
    (True, "left", None, 4, 2, 33, 33, 16, 24, "bhld"),
    (True, "right", None, 4, 4, 20, 20, 32, 40, "bhld"),
    (False, None, None, 4, 1, 20, 20, 16, 24, "bhld"),
    (False, "right", None, 2, 2, 33, 33, 16, 48, "bhld"),
    (False, "left", None, 4, 2, 20, 20, 16, 24, "bhld"),
    (True, "left", None, 4, 2, 7, 37, 16, 24, "bhld"),  # prefill after a cache: queries are the last 7 positions
    (True, None, 9, 4, 1, 41, 41, 16, 24, "bhld"),  # a sliding window shorter than the sequence
    (True, "left", 12, 4, 2, 9, 40, 16, 24, "bhld"),  # window + cache offset + padding
]


@pytest.mark.parametrize("is_causal,padding,window,heads,kv_heads,q_len,k_len,head_dim,width,layout", GRID)
def test_kernel_matches_float64_reference_in_the_interpreter(
    is_causal, padding, window, heads, kv_heads, q_len, k_len, head_dim, width, layout
):
    if torch.cuda.is_available():
        pytest.skip("the interpreter grid runs on machines without CUDA (the CUDA grid is below)")
    seed = hash((is_causal, padding, window, q_len, k_len, head_dim)) % 2**31
    inputs, keep = _case(seed, batch=2, heads=heads, kv_heads=kv_heads, q_len=q_len, k_len=k_len,
                         head_dim=head_dim, width=width, padding=padding, layout=layout)  # fmt: skip
    errors = _compare(inputs, keep, dtype=torch.float32, is_causal=is_causal, window=window,
                      scaling=head_dim**-0.5, generator_seed=seed + 1)  # fmt: skip
    # float32 arithmetic throughout: relative errors of a few 1e-7 are expected.
    assert max(errors.values()) < 1e-5, (seed, errors)


def test_tau_changes_the_kernel_output():
    if torch.cuda.is_available():
        pytest.skip("interpreter test")
    inputs, _ = _case(3, batch=1, heads=2, kv_heads=2, q_len=16, k_len=16, head_dim=16, width=16, padding=None)
    args = [inputs[n].float() for n in NAMES[:5]]
    zero = semantic_attention_fused(*args, torch.zeros(2), scaling=0.25, is_causal=True)
    one = semantic_attention_fused(*args, torch.ones(2), scaling=0.25, is_causal=True)
    stock = torch.nn.functional.scaled_dot_product_attention(*args[:3], is_causal=True, scale=0.25)
    torch.testing.assert_close(zero, stock, atol=1e-5, rtol=1e-5)
    assert (one - zero).abs().max() > 1e-2


def test_bad_shapes_are_refused():
    inputs, _ = _case(4, batch=1, heads=3, kv_heads=2, q_len=4, k_len=4, head_dim=16, width=8, padding=None)
    with pytest.raises(ValueError, match="grouped"):
        semantic_attention_fused(*(inputs[n].float() for n in NAMES), scaling=0.25, is_causal=False)


CUDA_GRID = [
    (True, "left", None, 4, 2, 13, 13, 16, 64, "blhd"),  # the tiny test models' shapes: one partial tile
    (False, "right", None, 4, 4, 13, 13, 16, 64, "bhld"),
    (True, "left", None, 32, 8, 1024, 1024, 128, 4096, "bhld"),
    (True, None, None, 4, 1, 700, 700, 256, 640, "bhld"),
    (True, "left", 512, 4, 1, 1100, 1100, 256, 640, "bhld"),
    (False, "right", None, 12, 12, 512, 512, 32, 384, "bhld"),
    (True, "left", None, 8, 2, 65, 1500, 64, 512, "bhld"),
]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("is_causal,padding,window,heads,kv_heads,q_len,k_len,head_dim,width,layout", CUDA_GRID)
def test_kernel_matches_float64_reference_on_cuda(
    dtype, is_causal, padding, window, heads, kv_heads, q_len, k_len, head_dim, width, layout
):
    seed = hash((is_causal, padding, window, q_len, head_dim, str(dtype))) % 2**31
    inputs, keep = _case(seed, batch=2, heads=heads, kv_heads=kv_heads, q_len=q_len, k_len=k_len,
                         head_dim=head_dim, width=width, padding=padding, device="cuda", layout=layout)  # fmt: skip
    errors = _compare(inputs, keep, dtype=dtype, is_causal=is_causal, window=window, scaling=head_dim**-0.5,
                      generator_seed=seed + 1)  # fmt: skip
    print(dtype, is_causal, padding, window, heads, q_len, head_dim, {k: f"{v:.1e}" for k, v in errors.items()})
    # Half-precision operands: relative errors between 1e-3 and 1e-2 are expected (bf16 has 8 mantissa bits).
    assert max(errors.values()) < 2e-2, (seed, errors)
