"""The fused distance-bias kernel against a float64 reference written with dense PyTorch: outputs and every gradient.

On CPU the Triton kernels run under TRITON_INTERPRET=1 (set in tests/conftest.py before triton is imported) in
float32; tolerance: max |kernel − ref| ≤ 1e-4 · (1 + max |ref|) per tensor. Query rows whose keys are all masked give
0 in the kernel (flash's convention), a uniform average in the reference: their output gradient is zeroed and their
outputs are checked to be 0.
"""

import zlib

import pytest
import torch
import transformers

from hf_archs.designs.positional.attention import FUSED_KERNEL_KEY
from hf_archs.designs.positional.design import RelativePositionBias, alibi_slopes
from hf_archs.designs.positional.kernel import ALIBI, TABLE, TRITON_AVAILABLE, distance_bias_attention
from hf_archs.testing import VOCAB
from tests.designs.flash_masks import assert_compiled_gradients_match, assert_fit_the_h100, compile_launches_for_hopper
from tests.designs.flash_masks import flash_masks as valid_mask


pytestmark = pytest.mark.skipif(not TRITON_AVAILABLE, reason="triton not installed")
CUDA = torch.cuda.is_available()


def positions(generator, batch, length, *, fractional):
    """(batch, L) non-decreasing positions with gaps and repeats (not 0 … L − 1: keys at one distance collide in the
    dG reduction), offset per row; fractional ones hit .5 ties."""
    steps = torch.randint(0, 3, (batch, length), generator=generator).double()
    pos = steps.cumsum(-1) + torch.tensor([[3.0], [40.0]])[:batch]
    if fractional:
        pos = pos + torch.tensor([0.0, 0.5, 0.25, 0.75])[torch.randint(0, 4, (batch, length), generator=generator)]
    return pos


def reference_bias(mode, table, qpos, kpos, d_lo, d_hi):
    """(batch, heads, Lq, Lk) float64 bias, dense."""
    distance = kpos[:, None, :] - qpos[:, :, None]  # (batch, Lq, Lk)
    if mode == ALIBI:
        return -table.view(1, -1, 1, 1) * distance.abs()[:, None]
    index = distance.round().clamp(d_lo, d_hi).long() - d_lo
    batch, q_len, k_len = index.shape
    heads = table.shape[-2] if table.dim() == 2 else table.shape[1]
    if table.dim() == 2:  # per head (t5)
        return table[:, index].permute(1, 0, 2, 3)
    flat = index[:, None].expand(batch, heads, q_len, k_len)
    return torch.gather(table, -1, flat)


def reference_attention(q, k, v, bias, valid, scaling):
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    logits = torch.matmul(q, k.transpose(-1, -2)) * scaling + bias
    logits = logits.masked_fill(~valid, torch.finfo(logits.dtype).min)
    return torch.matmul(torch.softmax(logits, -1), v)


def make_case(case, seed):
    """Inputs of one grid case, float64."""
    form, is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim = case
    g = torch.Generator().manual_seed(seed)
    batch = 2
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    all_pos = positions(g, batch, k_len, fractional=form == "alibi")
    inputs = dict(
        query=r(batch, heads, q_len, head_dim),
        key=r(batch, kv_heads, k_len, head_dim),
        value=r(batch, kv_heads, k_len, head_dim),
    )
    # A t5-like per-head table over [-8, 8] (or [-8, 0] causal), a relative-like per-query one over [-3, 3].
    if form == "alibi":
        mode, d_lo, d_hi = ALIBI, 0, 0
        inputs["table"] = alibi_slopes(heads) * (1 + r(heads).abs())
    elif form == "t5":
        mode, d_lo, d_hi = TABLE, -8, 0 if is_causal else 8
        inputs["table"] = r(heads, d_hi - d_lo + 1)
    else:
        mode, d_lo, d_hi = TABLE, -3, 3
        inputs["table"] = r(batch, heads, q_len, 7)
    return inputs, all_pos[:, k_len - q_len :], all_pos, dict(mode=mode, d_lo=d_lo, d_hi=d_hi)


# (form, is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim)
CPU_GRID = [
    ("t5", False, "none", None, 19, 19, 4, 2, 32),
    ("t5", True, "left", None, 21, 21, 4, 2, 32),
    ("t5", True, "none", None, 7, 23, 4, 4, 16),  # prefill with a cache: causal offset Lk - Lq
    ("t5", True, "right", 6, 11, 21, 2, 1, 32),  # sliding window
    ("relative", False, "left", None, 13, 22, 4, 2, 32),
    ("relative", True, "right", None, 17, 17, 2, 2, 64),
    ("relative", True, "none", 5, 22, 22, 4, 2, 16),
    ("relative", True, "left", None, 1, 20, 4, 2, 32),  # decoding one token
    ("alibi", True, "none", None, 19, 19, 4, 4, 32),
    ("alibi", False, "right", 4, 18, 18, 4, 2, 16),
    ("alibi", True, "left", None, 9, 20, 4, 2, 32),
]
CASE_IDS = ["-".join(map(str, c)) for c in CPU_GRID]


def check_tight(name, got, want):
    bound = 1e-4 * (1 + want.abs().max().item())
    err = (got - want).abs().max().item()
    assert err <= bound, f"{name}: max error {err:.3g} > {bound:.3g}"


NAMES = ("query", "key", "value", "table")


def run(case, seed, dtype=torch.float32, device="cpu"):
    """{name: (kernel, float64 reference)} for the output and the gradient of every input."""
    form, is_causal, padding, window, q_len, k_len, heads, kv_heads, head_dim = case
    inputs, qpos, kpos, options = make_case(case, seed)
    valid, kpm = valid_mask(2, q_len, k_len, padding, is_causal, window)
    row_ok = valid.any(-1, keepdim=True)  # (batch, 1, Lq, 1)
    scaling = head_dim**-0.5
    g = torch.Generator().manual_seed(seed + 1)
    grad_out = torch.randn(2, heads, q_len, head_dim, generator=g, dtype=torch.float64) * row_ok

    ref = {n: t.clone().requires_grad_(True) for n, t in inputs.items()}
    bias = reference_bias(options["mode"], ref["table"], qpos, kpos, options["d_lo"], options["d_hi"])
    expected = reference_attention(ref["query"], ref["key"], ref["value"], bias, valid, scaling)
    expected.backward(grad_out)

    # The table keeps float32 (a term's parameters); q, k, v are in the kernel's dtype.
    ker = {
        n: t.to(device=device, dtype=torch.float32 if n == "table" else dtype).requires_grad_(True)
        for n, t in inputs.items()
    }
    out = distance_bias_attention(
        *(ker[n] for n in NAMES[:3]), qpos.to(device), kpos.to(device), ker["table"], **options,
        scaling=scaling, is_causal=is_causal, key_padding_mask=None if kpm is None else kpm.to(device),
        sliding_window=window,
    )  # fmt: skip
    out.backward(grad_out.to(device=device, dtype=dtype))
    assert out.dtype == dtype and ker["table"].grad.dtype == torch.float32
    results = {"out": (out.detach().double().cpu(), expected.detach() * row_ok)}
    for n in NAMES:
        results[n] = (ker[n].grad.double().cpu(), ref[n].grad)
    for name, (got, _) in results.items():
        assert torch.isfinite(got).all(), name
    return results


@pytest.mark.skipif(CUDA, reason="interpreter grid runs where CUDA is absent; the gpu class covers CUDA")
@pytest.mark.parametrize("case", CPU_GRID, ids=CASE_IDS)
def test_kernel_matches_float64_reference_interpreter(case):
    for name, (got, want) in run(case, zlib.crc32(repr(case).encode())).items():
        check_tight(name, got, want)


@pytest.mark.skipif(CUDA, reason="interpreter")
def test_rounding_of_distances_is_half_to_even():
    """t5 and relative round fractional distances as `torch.round` does (half to even): 0.5 and −0.5 go to 0, 1.5 and
    2.5 to 2, −1.5 to −2. A table that allows one index only makes each query average the keys that picked it."""
    kpos = torch.tensor([[0.0, 0.5, 1.5, 2.5, -0.5, -1.5]])
    qpos = torch.zeros(1, 6)
    q = torch.zeros(1, 1, 6, 16)
    k = torch.zeros(1, 1, 6, 16)
    v = torch.arange(6.0).view(1, 1, 6, 1).expand(1, 1, 6, 16).contiguous()
    for distance, keys in ((2, [2, 3]), (0, [0, 1, 4]), (-2, [5])):
        assert torch.round(kpos[0, keys]).eq(distance).all()
        table = torch.full((1, 9), -1e4)
        table[0, distance + 4] = 0.0
        out = distance_bias_attention(
            q, k, v, qpos, kpos, table, mode=TABLE, d_lo=-4, d_hi=4, scaling=1.0, is_causal=False
        )
        torch.testing.assert_close(out[0, 0, :, 0], torch.full((6,), sum(keys) / len(keys)))


@pytest.mark.skipif(CUDA, reason="interpreter")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("case", [CPU_GRID[1], CPU_GRID[4], CPU_GRID[10]], ids=lambda c: "-".join(map(str, c)))
def test_half_precision_matches_float64_reference_interpreter(case, dtype):
    check_relative(run(case, zlib.crc32(repr((case, str(dtype))).encode()), dtype=dtype), dtype)


def check_relative(results, dtype):
    """‖kernel − ref‖ / ‖ref‖ per tensor: 1e-2 (bf16 gradients 2e-2; inputs rounded to 8 bits of mantissa)."""
    for name, (got, want) in results.items():
        rel = ((got - want).norm() / want.norm()).item()
        bound = 1e-2 if name == "out" or dtype == torch.float16 else 2e-2
        assert rel <= bound, f"{name}: relative error {rel:.3g} > {bound}"


def test_fully_masked_rows_are_zero_and_finite():
    device = "cuda" if CUDA else "cpu"
    case = ("relative", True, "left", None, 16, 16, 2, 2, 32)
    inputs, qpos, kpos, options = make_case(case, 3)
    ker = {n: t.to(device=device, dtype=torch.float32).requires_grad_(True) for n, t in inputs.items()}
    kpm = torch.ones(2, 16, dtype=torch.bool, device=device)
    kpm[0, :5] = False  # left padding + causal: the first 5 queries of row 0 see nothing
    out = distance_bias_attention(
        *(ker[n] for n in NAMES[:3]), qpos.to(device), kpos.to(device), ker["table"], **options,
        scaling=0.2, is_causal=True, key_padding_mask=kpm,
    )  # fmt: skip
    out.sum().backward()
    assert torch.isfinite(out).all() and (out[0, :, :5] == 0).all()
    for n in NAMES:
        assert torch.isfinite(ker[n].grad).all(), n
    assert (ker["table"].grad[0, :, :5] == 0).all()


@pytest.mark.slow  # ~7 s: compiling
def test_torch_compile_fullgraph():
    device = "cuda" if CUDA else "cpu"
    case = ("t5", True, "none", None, 16, 16, 4, 2, 32)
    inputs, qpos, kpos, options = make_case(case, 5)
    ker = {n: t.to(device=device, dtype=torch.float32).requires_grad_(True) for n, t in inputs.items()}
    qpos, kpos = qpos.to(device), kpos.to(device)

    def f(q, k, v, table):
        out = distance_bias_attention(q, k, v, qpos, kpos, table, **options, scaling=0.2, is_causal=True)
        return out.square().sum()

    assert_compiled_gradients_match(f, ker, NAMES)


GPU_GRID = [
    (form, c, p, w, lq, lk, h, kvh, hd)
    for form in ("t5", "relative", "alibi")
    for hd in (64, 128)
    for (c, p, w, lq, lk, h, kvh) in [
        (True, "none", None, 2048, 2048, 8, 2),
        (False, "left", None, 777, 777, 4, 4),
        (True, "right", None, 513, 513, 4, 1),
        (True, "left", None, 300, 1200, 4, 2),
        (True, "left", 256, 1100, 1100, 4, 2),
    ]
]


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
class TestGPU:
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=["bf16", "fp16", "fp32"])
    @pytest.mark.parametrize("case", GPU_GRID, ids=lambda c: "-".join(map(str, c)))
    def test_kernel_matches_float64_reference_gpu(self, case, dtype):
        results = run(case, zlib.crc32(repr((case, str(dtype))).encode()), dtype=dtype, device="cuda")
        if dtype == torch.float32:
            for name, (got, want) in results.items():
                check_tight(name, got, want)
        else:
            check_relative(results, dtype)


# --- the kernel inside the models ------------------------------------------------------------------------------------

# Default tier: one case per backbone and variant (~6 s each under the interpreter); the rest is slow.
DEFAULT_MODEL_CASES = [("gemma3", "t5"), ("llama", "relative"), ("bert", "alibi")]
MODEL_CASES = [
    pytest.param(
        backbone,
        name,
        id=f"{backbone}-{name}",
        marks=() if (backbone, name) in DEFAULT_MODEL_CASES else pytest.mark.slow,
    )
    for backbone in ("llama", "gemma3", "bert")
    for name in ("t5", "relative", "alibi")
]


def positional_model(backbone, name, implementation, **overrides):
    """A tiny positional model with random design parameters (t5's default init is ~0.02: a bias that barely
    matters); t5 with 8 buckets up to distance 20 and relative with K = 3, so 12 tokens reach the clipped ones."""
    from tests.designs.positional.test_design import bert_config, gemma3_config, llama_config

    configs = {"llama": llama_config, "gemma3": gemma3_config, "bert": bert_config}
    config = configs[backbone](
        positional_encoding=name,
        positional_num_buckets=8,
        positional_bucket_max_distance=20,
        positional_max_distance=3,
        positional_relative_dim=4,
        **overrides,
    )
    auto = transformers.AutoModelForMaskedLM if backbone == "bert" else transformers.AutoModelForCausalLM
    torch.manual_seed(0)
    model = auto.from_config(config, attn_implementation=implementation)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for term in (m for m in model.modules() if isinstance(m, RelativePositionBias)):
            for parameter in term.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=g))
    return model


def padded_batch(backbone):
    g = torch.Generator().manual_seed(2)
    input_ids = torch.randint(3, VOCAB, (2, 12), generator=g)
    attention_mask = torch.ones_like(input_ids)
    if backbone != "bert":
        attention_mask[0, :3] = 0  # left padding (decoders)
    attention_mask[1, -4:] = 0  # right padding
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    # A decoder predicts token t from position t − 1: the first real token of a left-padded row would be predicted
    # from a padding query, which sees no key (0 in the kernel as in flash, an average in SDPA): not a loss term.
    labels[0, 3] = -100
    return dict(input_ids=input_ids.masked_fill(attention_mask == 0, 0), attention_mask=attention_mask, labels=labels)


def count_kernel_calls(monkeypatch) -> list[int]:
    """Counts calls of the fused kernel from the attention function: [n] after n calls."""
    from hf_archs.designs.positional import attention

    calls, kernel = [0], attention.distance_bias_attention

    def counted(*args, **kwargs):
        calls[0] += 1
        return kernel(*args, **kwargs)

    monkeypatch.setattr(attention, "distance_bias_attention", counted)
    return calls


@pytest.mark.parametrize("backbone,name", MODEL_CASES)
def test_model_with_the_kernel_matches_sdpa(backbone, name, monkeypatch):
    """Float32 logits of the real tokens, the loss and every parameter's gradient (q, k, v, o projections, t5's
    table, relative's query projection and distance embedding) under `positional_triton` equal the SDPA path's; padding
    on both sides, GQA (Llama, Gemma 3), Gemma 3's sliding window of 4. The kernel, not the reference path, ran in
    every layer."""
    calls = count_kernel_calls(monkeypatch)
    batch = padded_batch(backbone)
    valid = batch["attention_mask"].bool()
    results = {}
    for implementation in ("sdpa", FUSED_KERNEL_KEY):
        model = positional_model(backbone, name, implementation).train()
        assert model.config._attn_implementation == implementation
        out = model(**batch)
        out.loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        results[implementation] = (out.logits[valid].detach(), out.loss.detach(), grads)
    (logits, loss, grads), (k_logits, k_loss, k_grads) = results["sdpa"], results[FUSED_KERNEL_KEY]
    assert calls == [2]  # the two layers of the tiny models, in the one forward under the kernel key
    torch.testing.assert_close(k_logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(k_loss, loss, atol=1e-5, rtol=1e-5)
    assert k_grads.keys() == grads.keys()
    design = [n for n in grads if "positional_bias" in n]
    assert design or name == "alibi"
    for n in grads:
        torch.testing.assert_close(k_grads[n], grads[n], atol=1e-5, rtol=1e-4, msg=n)


@pytest.mark.parametrize(
    "backbone,name",
    [pytest.param("llama", "relative"), pytest.param("gemma3", "t5", marks=pytest.mark.slow)],
    ids=["llama-relative", "gemma3-t5"],
)
def test_cached_generation_under_the_kernel_matches_sdpa(backbone, name, monkeypatch):
    """Left-padded prompt, then decoding with the cache: the kernel runs with Lq < Lk (one query, cached keys whose
    positions ride in the cache) and gives the SDPA path's tokens and logits."""
    calls = count_kernel_calls(monkeypatch)
    batch = padded_batch(backbone)
    kwargs = dict(max_new_tokens=4, do_sample=False, pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    outputs = {}
    for implementation in ("sdpa", FUSED_KERNEL_KEY):
        model = positional_model(backbone, name, implementation).eval()
        model.generation_config.eos_token_id = None
        mask = batch["attention_mask"].clone()
        mask[1] = 1  # left padding only: generation appends on the right
        outputs[implementation] = model.generate(input_ids=batch["input_ids"], attention_mask=mask, **kwargs)
    assert calls[0] == 2 * 4  # prefill and 3 decoding steps, 2 layers
    assert torch.equal(outputs["sdpa"].sequences, outputs[FUSED_KERNEL_KEY].sequences)
    for a, b in zip(outputs[FUSED_KERNEL_KEY].logits, outputs["sdpa"].logits):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_a_mask_the_kernel_cannot_express_takes_the_reference_path_with_a_message(caplog):
    """Attention dropout in training: the SDPA path runs (the same function) and the reason is logged, once."""
    from transformers.utils import logging as hf_logging

    model = positional_model("bert", "t5", FUSED_KERNEL_KEY, attention_probs_dropout_prob=0.5)
    hf_logging.enable_propagation()
    with caplog.at_level("WARNING"):
        model.train()(**padded_batch("bert"))
    assert "no attention dropout; running the reference SDPA path" in caplog.text


HOPPER_LAUNCHES = """
import torch
from hf_archs.designs.positional import kernel

for dtype in (torch.bfloat16, torch.float16, torch.float32):
    for head_dim, mode in ((128, kernel.ALIBI), (128, kernel.TABLE), (64, kernel.TABLE), (256, kernel.TABLE)):
        q = torch.zeros(2, 4, 96, head_dim, dtype=dtype)
        k, v = torch.zeros(2, 2, 96, head_dim, dtype=dtype), torch.zeros(2, 2, 96, head_dim, dtype=dtype)
        positions = torch.arange(96.0).expand(2, 96)
        table = torch.zeros(4) if mode == kernel.ALIBI else torch.zeros(2, 4, 96, 17)
        d_lo, d_hi = (0, 0) if mode == kernel.ALIBI else (-8, 8)
        kpm = torch.ones(2, 96, dtype=torch.bool)
        args = (positions, positions, table, kpm, mode, d_lo, d_hi, 0.1, True, 32)
        out, lse = kernel._triton_forward(q, k, v, *args)
        kernel._triton_backward(q, q, k, v, *args[:4], out, lse, *args[4:])
"""


@pytest.mark.slow  # ~1-2 min: 36 compilations through ptxas
def test_kernels_compile_for_hopper_without_a_gpu():
    """Every kernel in both modes and three dtypes, at head_dim 64 / 128 / 256 with the op's own tiles and the
    arguments its launches pass (causal, a window, key padding, GQA), compiles for sm_90 (the H100) down to the cubin
    and fits the H100's shared memory; no GPU is needed (float32 dq at head_dim 128 with bf16's tiles once asked
    257 KiB; an early return in a static `if` failed to compile alibi's kernels)."""
    pytest.importorskip("triton.backends.nvidia")
    launches = compile_launches_for_hopper(HOPPER_LAUNCHES)
    assert len(launches) == 36
    assert_fit_the_h100(launches)
