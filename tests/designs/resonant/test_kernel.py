"""The fused resonant kernel (squared form) against the float64 reference: `resonance_naive` on `slot_states` of the
same raw features, then `attention_naive`.

On CPU the Triton kernels run under TRITON_INTERPRET=1 (set in tests/conftest.py before triton is imported), in
float32; tolerance: max |kernel − ref| ≤ 1e-4 · (1 + max |ref|) per tensor. The raw features (slot logits, quaternion
components, phases) are fresh random numbers per case, with few slots so that empty and non-empty intersections both
occur. Query rows whose keys are all masked give 0 in the kernel (flash's convention) but a uniform average in the
reference: their output is compared after zeroing, and their output gradient is zero on both sides.
"""

import os
import zlib

import pytest
import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.core.attention import attention_naive
from hf_archs.designs.resonant import attention as resonant_attention
from hf_archs.designs.resonant.attention import FUSED_KERNEL_KEY
from hf_archs.designs.resonant.kernel import TRITON_AVAILABLE, kernel_features, resonant_attention_fused
from hf_archs.designs.resonant.naive import (
    CHANNELS_PER_SLOT,
    resonance_inner_product,
    resonance_naive,
    slot_states,
)
from hf_archs.registry import ZOO
from hf_archs.testing import STOCK_VARIANTS
from tests.conformance.generation import assert_cached_generation_matches_recompute
from tests.designs.flash_masks import assert_fit_the_h100, compile_launches_for_hopper, flash_masks


pytestmark = pytest.mark.skipif(not TRITON_AVAILABLE, reason="triton not installed")
CUDA = torch.cuda.is_available()
# The kernel runs on CUDA where there is one, else on the CPU under the interpreter; the reference on the CPU.
DEVICE = "cuda" if CUDA else "cpu"
WEIGHTS = (0.5, 0.3, 0.2)
TEMPERATURE = 0.7


def _inputs(seed, *, batch, heads, kv_heads, q_len, k_len, head_dim, slots):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    width = heads * slots * CHANNELS_PER_SLOT
    return dict(
        query=r(batch, heads, q_len, head_dim),
        key=r(batch, kv_heads, k_len, head_dim),
        value=r(batch, kv_heads, k_len, head_dim),
        query_features=2 * r(batch, q_len, width),
        key_features=2 * r(batch, k_len, width),
        weight=2 * r(heads),  # lambda
    )


def _reference(t, *, heads, top_k, valid, scaling, pure, score):
    """float64: softmax(s · q·kᵀ + lambda · Res / T + mask) · v, every intermediate materialized (pure: no q·k)."""
    states = [slot_states(t[name], heads, top_k) for name in ("query_features", "key_features")]
    bias = t["weight"].view(1, -1, 1, 1) * score(*states, WEIGHTS) / TEMPERATURE
    group = heads // t["key"].shape[1]
    query = torch.zeros_like(t["query"]) if pure else t["query"]
    out, _ = attention_naive(
        query,
        t["key"].repeat_interleave(group, 1),
        t["value"].repeat_interleave(group, 1),
        bias,
        scaling=scaling,
        attention_mask=valid,
    )
    return out


def _kernel(t, *, heads, top_k, kpm, window, is_causal, scaling, pure):
    query_side, key_side = (
        kernel_features(slot_states(t[name], heads, top_k), WEIGHTS) for name in ("query_features", "key_features")
    )
    return resonant_attention_fused(
        None if pure else t["query"],
        None if pure else t["key"],
        t["value"],
        *query_side,
        *key_side,
        t["weight"] / TEMPERATURE,
        WEIGHTS,
        scaling=scaling,
        is_causal=is_causal,
        key_padding_mask=kpm,
        sliding_window=window,
    )


def _naive_squared(query, key, weights):
    return resonance_naive(query, key, weights, squared=True)


def _run(case, *, pure, dtype=torch.float32, backward=False, score=_naive_squared):
    is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, slots, top_k = case
    seed = zlib.crc32(repr((case, pure, str(dtype))).encode())
    inputs = _inputs(
        seed, batch=2, heads=heads, kv_heads=kv_heads, q_len=q_len, k_len=k_len, head_dim=head_dim, slots=slots
    )
    scaling = head_dim**-0.5
    valid, kpm = flash_masks(2, q_len, k_len, padding, is_causal, window)
    row_ok = valid.any(-1, keepdim=True)  # (batch, 1, Lq, 1)
    names = [n for n in inputs if not (pure and n in ("query", "key"))]

    ref = {n: t.clone().requires_grad_(backward) for n, t in inputs.items()}
    ref_out = _reference(ref, heads=heads, top_k=top_k, valid=valid, scaling=scaling, pure=pure, score=score)
    # Features in float32 at least, as `slot_states` makes them; q, k, v and the output in `dtype`.
    ker = {
        n: t.to(DEVICE, dtype if n in ("query", "key", "value") else torch.float32).requires_grad_(backward)
        for n, t in inputs.items()
    }
    out = _kernel(
        ker,
        heads=heads,
        top_k=top_k,
        kpm=None if kpm is None else kpm.to(DEVICE),
        window=window,
        is_causal=is_causal,
        scaling=scaling,
        pure=pure,
    )
    assert out.dtype == dtype and out.shape == ref_out.shape
    results = {"out": (out.detach().double().cpu(), ref_out.detach() * row_ok)}
    if backward:
        grad_out = torch.randn(ref_out.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        grad_out = grad_out * row_ok
        ref_out.backward(grad_out)
        out.backward(grad_out.to(DEVICE, dtype))
        for n in names:
            results[n] = (ker[n].grad.double().cpu(), ref[n].grad)
    for name, (got, _) in results.items():
        assert torch.isfinite(got).all(), name
    return results


def _check(results, tolerance=1e-4):
    for name, (got, want) in results.items():
        assert want.abs().max() > 0, f"{name}: the reference is zero, the check would be vacuous"
        bound = tolerance * (1 + want.abs().max().item())
        err = (got - want).abs().max().item()
        assert err <= bound, f"{name}: max error {err:.3g} > {bound:.3g}"


# (is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, slots, top_k)
GRID = [
    (False, "none", None, 19, 19, 4, 2, 32, 6, 2),
    (True, "none", None, 19, 19, 2, 2, 16, 8, 3),
    (True, "left", None, 21, 21, 4, 2, 32, 5, 2),
    (True, "right", None, 17, 17, 2, 1, 64, 6, 1),
    (False, "left", None, 13, 22, 4, 2, 32, 6, 2),
    (True, "none", None, 7, 23, 4, 2, 32, 6, 2),  # prefill with a cache: causal offset Lk - Lq
    (True, "left", None, 1, 20, 2, 1, 32, 6, 2),  # decoding one token
    (True, "none", 5, 22, 22, 4, 2, 32, 6, 2),  # sliding window
    (True, "right", 6, 11, 21, 4, 2, 32, 6, 2),
    (False, "none", 4, 18, 18, 2, 1, 32, 17, 4),  # P > 16: the features span two 16-wide blocks
]


@pytest.mark.parametrize("pure", [False, True], ids=["hybrid", "pure"])
@pytest.mark.parametrize("case", GRID[::3], ids=lambda c: "-".join(map(str, c)))
def test_forward_matches_float64_reference(case, pure):
    """Without autograd (inference): every case's output is also checked by the gradient test below."""
    assert CUDA or os.environ.get("TRITON_INTERPRET") == "1"
    _check(_run(case, pure=pure))


@pytest.mark.parametrize("pure", [False, True], ids=["hybrid", "pure"])
@pytest.mark.parametrize("case", GRID, ids=lambda c: "-".join(map(str, c)))
def test_gradients_match_float64_reference(case, pure):
    """dq, dk, dv (none for pure), lambda's gradient and the raw features' of both sides, through the kernel's dm, dz
    and the straight-through estimator outside it."""
    _check(_run(case, pure=pure, backward=True))


@pytest.mark.parametrize(
    "dtype",
    [torch.float16, pytest.param(torch.bfloat16, marks=pytest.mark.skipif(not CUDA, reason="interpreter bf16 dots"))],
)
def test_half_precision(dtype):
    """q, k, v in 16 bits (the features stay float32): the error is the 16-bit rounding of the inputs, output and
    gradients. bfloat16 on CUDA only: Triton 3.9's interpreter returns garbage for tl.dot of bfloat16 operands (a
    16×16 product off by 2e10), in any kernel."""
    _check(_run(GRID[2], pure=False, dtype=dtype, backward=True), tolerance=2e-2)


def test_coefficient_changes_the_output():
    """lambda enters the logits: the kernel does not silently drop the resonance term."""
    case = GRID[1]
    seed = 11
    t = _inputs(seed, batch=2, heads=2, kv_heads=2, q_len=19, k_len=19, head_dim=16, slots=8)
    t = {n: v.to(DEVICE, torch.float32) for n, v in t.items()}
    kwargs = dict(heads=2, top_k=case[-1], kpm=None, window=None, is_causal=True, scaling=0.25, pure=False)
    some = _kernel(t, **kwargs)
    t["weight"] = torch.zeros_like(t["weight"])
    none = _kernel(t, **kwargs)
    assert (some - none).abs().max() > 1e-2


# (is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim, slots, top_k): Llama- and Gemma-like heads.
GPU_GRID = [
    (True, "none", None, 1024, 1024, 8, 2, 128, 16, 4),
    (True, "left", None, 777, 777, 4, 1, 256, 16, 4),
    (False, "right", None, 640, 640, 4, 4, 64, 16, 4),
    (True, "none", None, 300, 1200, 4, 2, 128, 16, 4),
    (True, "left", 256, 1100, 1100, 4, 1, 256, 16, 4),
]


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("pure", [False, True], ids=["hybrid", "pure"])
@pytest.mark.parametrize("case", GPU_GRID, ids=lambda c: "-".join(map(str, c)))
def test_gpu_grid_matches_float64_reference(case, pure, dtype):
    """‖kernel − ref‖ / ‖ref‖ per tensor (16-bit q, k, v: the features stay float32, their dots TF32). The reference
    score is the float64 matmul form (`resonance_naive` would hold (L, L, P, 4) numbers: 8 GiB here), itself checked
    against `resonance_naive` in test_naive.py."""
    bound = 1e-4 if dtype == torch.float32 else 2e-2
    results = _run(case, pure=pure, dtype=dtype, backward=True, score=resonance_inner_product)
    for name, (got, want) in results.items():
        rel = ((got - want).norm() / want.norm()).item()
        assert rel <= bound, f"{name}: relative error {rel:.3g} > {bound}"


MODEL_ENTRIES = [entry for entry in ZOO if entry.design_name in ("resonant", "resonant_pure")]


def _tiny_model(entry, implementation, **settings):
    variant = next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)
    lam = 5.0 if entry.design_name == "resonant_pure" else 1.0
    config = entry.backbone.design_config(
        entry.config_class,
        variant.config,
        resonant_lambda_init=lam,
        resonant_num_slots=6,
        resonant_top_k=2,
        **settings,
    )
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(config, attn_implementation=implementation).to(DEVICE)


def _slow_unless_llama_or_hybrid(entry):
    fast = entry.backbone.name == "llama" or entry.design_name == "resonant"
    return pytest.param(entry, marks=() if fast else pytest.mark.slow, id=entry.model_type)


@pytest.mark.parametrize("entry", [_slow_unless_llama_or_hybrid(entry) for entry in MODEL_ENTRIES])
def test_model_under_the_kernel_key_matches_eager(entry):
    """A tiny model (Gemma 3: sliding-window layers too) with padding, under "resonant_triton" and "eager": the same
    hidden states at the real tokens and the same gradient of every parameter."""
    models = {key: _tiny_model(entry, key, resonant_quaternion="squared") for key in ("eager", FUSED_KERNEL_KEY)}
    models[FUSED_KERNEL_KEY].load_state_dict(models["eager"].state_dict())
    input_ids = torch.randint(3, 100, (2, 11), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    attention_mask = torch.ones_like(input_ids)
    if entry.backbone.name == "bert":
        attention_mask[1, -3:] = 0
    else:
        attention_mask[0, :3] = 0
    real = attention_mask[..., None].to(torch.float32)
    results = {}
    for key, model in models.items():
        hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state * real
        upstream = torch.randn(hidden.shape, generator=torch.Generator().manual_seed(1)).to(DEVICE)
        (hidden * upstream).sum().backward()
        results[key] = (hidden.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    (hidden, grads), (fused_hidden, fused_grads) = results["eager"], results[FUSED_KERNEL_KEY]
    assert fused_grads.keys() == grads.keys()
    assert any(".resonant.projection." in name and grad.abs().max() > 0 for name, grad in grads.items())
    # float32 on both sides (the kernel keeps its softmax statistics in float32 whatever the inputs): measured
    # errors are ≤ 3e-6 · max |eager| per tensor.
    _check(
        {"hidden": (fused_hidden, hidden), **{name: (fused_grads[name], grad) for name, grad in grads.items()}}, 1e-5
    )


@pytest.mark.slow
def test_cached_generation_under_the_kernel_key_matches_recompute():
    """Prefill and one-token decoding steps through the kernel (queries the last Lq of the Lk cached keys)."""
    entry = next(e for e in MODEL_ENTRIES if e.model_type == "resonant_llama")
    variant = next(v for v in STOCK_VARIANTS if v.backbone == "llama")
    config = entry.backbone.design_config(
        entry.config_class, variant.config, resonant_lambda_init=1.0, resonant_quaternion="squared"
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=FUSED_KERNEL_KEY)
    model = model.to(DEVICE).eval()
    input_ids = torch.randint(3, 100, (2, 7), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0
    assert_cached_generation_matches_recompute(model, dict(input_ids=input_ids, attention_mask=attention_mask), {})


def test_the_kernel_key_refuses_the_abs_form():
    """|q·q'| has no kernel: the model refuses the key for "abs" (at load and when switched to), saying why, and the
    attention function refuses an "abs" term it is handed anyway; neither falls back to another path."""
    entry = next(e for e in MODEL_ENTRIES if e.model_type == "resonant_llama")
    with pytest.raises(ValueError, match="resonant_quaternion='squared' only"):
        _tiny_model(entry, FUSED_KERNEL_KEY, resonant_quaternion="abs")
    model = _tiny_model(entry, "eager", resonant_quaternion="abs")
    assert FUSED_KERNEL_KEY not in type(model).accepted_attn_implementations(model.config)
    with pytest.raises(ValueError, match="resonant_quaternion='squared' only"):
        model.set_attn_implementation(FUSED_KERNEL_KEY)
    squared = _tiny_model(entry, "eager", resonant_quaternion="squared")
    assert FUSED_KERNEL_KEY in type(squared).accepted_attn_implementations(squared.config)

    layer = next(m for m in model.modules() if hasattr(m, "logit_terms") and m.logit_terms())
    query = torch.zeros(1, layer.config.num_attention_heads, 3, layer.head_dim, device=DEVICE)
    key = torch.zeros(1, layer.config.num_key_value_heads, 3, layer.head_dim, device=DEVICE)
    features = torch.zeros(1, 3, layer.resonant.num_features, device=DEVICE)
    with pytest.raises(ValueError, match="squared form only"):
        resonant_attention.resonant_fused_attention(
            layer, query, key, key, None, scaling=1.0, dropout=0.0, terms=layer.logit_terms(),
            query_features=features, key_features=features,
        )  # fmt: skip


@pytest.mark.skipif(CUDA, reason="the kernel runs on CUDA tensors")
def test_where_the_kernel_cannot_run_the_reference_path_runs_and_says_why(monkeypatch):
    """CPU without the interpreter: the SDPA reference path (the same outputs as "sdpa") and a warning saying why."""
    entry = next(e for e in MODEL_ENTRIES if e.model_type == "resonant_llama")
    models = {key: _tiny_model(entry, key, resonant_quaternion="squared") for key in ("sdpa", FUSED_KERNEL_KEY)}
    models[FUSED_KERNEL_KEY].load_state_dict(models["sdpa"].state_dict())
    warnings = []
    monkeypatch.setattr(resonant_attention.logger, "warning_once", warnings.append)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    input_ids = torch.randint(3, 100, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        outputs = [model(input_ids=input_ids).last_hidden_state for model in models.values()]
    torch.testing.assert_close(outputs[1], outputs[0], rtol=0, atol=0)
    assert warnings and "TRITON_INTERPRET=1" in warnings[0]


HOPPER_LAUNCHES = """
import torch
from hf_archs.designs.resonant import kernel

slots = 8
for dtype in (torch.bfloat16, torch.float16, torch.float32):
    for pure in (False, True):
        q = None if pure else torch.zeros(2, 4, 96, 64, dtype=dtype)
        k = None if pure else torch.zeros(2, 2, 96, 64, dtype=dtype)
        v = torch.zeros(2, 2, 96, 64, dtype=dtype)
        m, z = torch.zeros(2, 4, 96, slots), torch.zeros(2, 4, 96, 12 * slots)
        features = (m, z, m, z, torch.ones(4), torch.ones(2, 96, dtype=torch.bool))
        settings = (0.1, (0.5, 0.3, 0.2), True, 32)
        out, lse = kernel._forward(q, k, v, *features, *settings)
        kernel._backward(out, q, k, v, *features, out, lse, *settings)
"""


@pytest.mark.slow  # ~1-2 min: 18 compilations through ptxas
def test_kernels_compile_for_hopper_without_a_gpu():
    """The three kernels, hybrid and pure, in three dtypes, with the op's tiles and the arguments its launches pass
    (causal, a window, key padding, GQA), compile for sm_90 (the H100) down to the cubin and fit its shared memory;
    no GPU is needed."""
    pytest.importorskip("triton.backends.nvidia")
    launches = compile_launches_for_hopper(HOPPER_LAUNCHES)
    assert len(launches) == 18
    assert_fit_the_h100(launches)
