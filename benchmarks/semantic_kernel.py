"""Fused semantic-attention kernel vs stock flash SDPA, the SDPA-bias path and FlexAttention (CUDA only).

Times (median of triton.testing.do_bench) of forward and forward+backward and peak-memory deltas
(torch.cuda.max_memory_allocated), as ratios to stock flash SDPA measured in the same process. Also a crude stage
profile of the kernel (S matmul, forward tiles, dq/dk/dv, dS kernel, dx̂ matmuls).

    python benchmarks/semantic_kernel.py [--out benchmarks/results] [--quick]
"""

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import triton
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from hf_archs.core.attention import sdpa_attention
from hf_archs.core.flash import blocks
from hf_archs.designs.semantic import kernel as K
from hf_archs.designs.semantic.kernel import semantic_attention_fused
from hf_archs.designs.semantic.naive import semantic_bias


DT = torch.bfloat16
FLEX_TIME_LIMIT_S = 30.0


def shapes(quick):
    out = []
    for L in (2048, 4096, 8192, 16384):
        out.append(dict(name=f"llama8b L={L}", B=1, H=32, KVH=8, D=128, d=4096, L=L, causal=True, window=None))
    for L in (2048, 8192, 32768):
        for w in (None, 512):
            out.append(dict(name=f"gemma270m L={L} w={w}", B=1, H=4, KVH=1, D=256, d=640, L=L, causal=True, window=w))
    out.append(dict(name="minilm B=32 L=512", B=32, H=12, KVH=12, D=32, d=384, L=512, causal=False, window=None))
    if quick:
        out = [s for s in out if s["L"] <= 4096]
    return out


def make(s, grad):
    B, H, KVH, D, d, L = s["B"], s["H"], s["KVH"], s["D"], s["d"], s["L"]
    g = dict(device="cuda", dtype=DT, requires_grad=grad)
    q = torch.randn(B, H, L, D, **g)
    k = torch.randn(B, KVH, L, D, **g)
    v = torch.randn(B, KVH, L, D, **g)
    x = torch.randn(B, L, d, device="cuda", dtype=DT)
    x = (x / x.norm(dim=-1, keepdim=True)).requires_grad_(grad)
    tau = torch.randn(H, device="cuda", dtype=torch.float32, requires_grad=grad)
    return q, k, v, x, tau


def run_flash(s, q, k, v, x, tau):
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return F.scaled_dot_product_attention(q, k, v, is_causal=s["causal"], enable_gqa=q.shape[1] != k.shape[1])


def run_kernel(s, q, k, v, x, tau):
    return semantic_attention_fused(
        q, k, v, x, x, tau, scaling=q.shape[-1] ** -0.5, is_causal=s["causal"], sliding_window=s["window"]
    )


def run_sdpa_bias(s, q, k, v, x, tau):
    # The model's `sdpa` path: the (batch, heads, L, L) bias tau_h·S folded into a float mask.
    module = SimpleNamespace(is_causal=s["causal"], training=False, num_key_value_groups=q.shape[1] // k.shape[1])
    mask = None
    if s["window"]:
        i = torch.arange(q.shape[2], device="cuda")
        mask = (i[:, None] >= i[None, :]) & (i[:, None] - i[None, :] < s["window"])
    out, _ = sdpa_attention(module, q, k, v, mask, scaling=q.shape[-1] ** -0.5, bias=semantic_bias(tau, x, x, q.dtype))
    return out


_FLEX = {}


def run_flex(s, q, k, v, x, tau):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    if "fn" not in _FLEX:
        _FLEX["fn"] = torch.compile(flex_attention)
    S = torch.matmul(x, x.transpose(-1, -2))  # learnable captured bias: gradient flows into x via S
    window = s["window"]
    causal = s["causal"]

    def mask_mod(b, h, qi, ki):
        ok = qi >= ki if causal else qi == qi
        if window:
            ok = ok & (qi - ki < window)
        return ok

    key = (s["name"],)
    if key not in _FLEX:
        _FLEX[key] = create_block_mask(mask_mod, None, None, q.shape[2], k.shape[2], device="cuda")

    def score_mod(score, b, h, qi, ki):
        return score + tau[h] * S[b, qi, ki]

    return _FLEX["fn"](q, k, v, score_mod=score_mod, block_mask=_FLEX[key], enable_gqa=q.shape[1] != k.shape[1])


METHODS = {"flash": run_flash, "sdpa_bias": run_sdpa_bias, "flex": run_flex, "kernel": run_kernel}


def measure(s, fn, backward):
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    inputs = make(s, backward)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    grad = None

    def step():
        out = fn(s, *inputs)
        if backward:
            nonlocal grad
            if grad is None:
                grad = torch.randn_like(out)
            out.backward(grad)
            for t in inputs:
                t.grad = None
        return out

    t0 = time.time()
    step()
    torch.cuda.synchronize()
    if time.time() - t0 > FLEX_TIME_LIMIT_S:
        raise TimeoutError("first call > 30 s")
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    ms = triton.testing.do_bench(step, warmup=5, rep=30, return_mode="median")
    return ms, peak


def profile(s):
    """Each stage of the kernel timed alone (bf16, fwd+bwd pieces)."""
    q, k, v, x, tau = make(s, False)
    sc = q.shape[-1] ** -0.5
    w = s["window"] or 0
    out, lse = K._triton_forward(q, k, v, x, x, tau, None, sc, s["causal"], w)
    do = torch.randn_like(out)
    B, H, KVH, Lq, Lk, D, tau_h, kpm = K._common(q, k, v, tau, None, w)
    S = K._similarity(x, x).contiguous()
    delta = (do.float() * out.float()).sum(-1).contiguous()
    flags = dict(CAUSAL=s["causal"], HAS_WINDOW=w > 0, HAS_KPM=False)
    strides = (*q.stride(), *k.stride(), *v.stride(), *S.stride())
    ww = max(w, 1)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    m_kv, l_kv = blocks(D, "dkdv")
    m_q, l_q = blocks(D, "dq")
    m_s, l_s = blocks(D, "ds")
    n_m, n_n = triton.cdiv(Lq, m_s["BLOCK_M"]), triton.cdiv(Lk, m_s["BLOCK_N"])
    part = torch.empty(B, n_m, n_n, H, dtype=torch.float32, device="cuda")
    stages = {
        "S = x̂x̂ᵀ": lambda: K._similarity(x, x),
        "fwd attention tiles (incl. S)": lambda: K._triton_forward(q, k, v, x, x, tau, None, sc, s["causal"], w),
        "bwd dk/dv": lambda: K._bwd_dkdv_kernel[(triton.cdiv(Lk, m_kv["BLOCK_N"]), B * KVH)](
            q,
            k,
            v,
            S,
            tau_h,
            kpm,
            do,
            lse,
            delta,
            dk,
            dv,
            *strides,
            H,
            KVH,
            H // KVH,
            Lq,
            Lk,
            D,
            0,
            ww,
            sc * K.LOG2E,
            sc,
            **flags,
            **m_kv,
            **l_kv,
        ),  # fmt: skip
        "bwd dq": lambda: K._bwd_dq_kernel[(triton.cdiv(Lq, m_q["BLOCK_M"]), B * H)](
            q,
            k,
            v,
            S,
            tau_h,
            kpm,
            do,
            lse,
            delta,
            dq,
            *strides,
            H,
            H // KVH,
            Lq,
            Lk,
            D,
            0,
            ww,
            sc * K.LOG2E,
            sc,
            **flags,
            **m_q,
            **l_q,
        ),  # fmt: skip
        "bwd dS kernel": lambda: K._bwd_ds_kernel[(n_m, n_n, B)](
            q,
            k,
            v,
            S,
            tau_h,
            kpm,
            do,
            lse,
            delta,
            part,
            *strides,
            H,
            H // KVH,
            Lq,
            Lk,
            D,
            0,
            ww,
            sc * K.LOG2E,
            **flags,
            **m_s,
            **l_s,
        ),  # fmt: skip
        "bwd dx̂ matmuls": lambda: (torch.matmul(S, x), torch.matmul(S.transpose(-1, -2), x)),
    }
    return {name: triton.testing.do_bench(fn, warmup=5, rep=30, return_mode="median") for name, fn in stages.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="run the shapes whose name starts with this")
    ap.add_argument("--skip-flex-above", type=int, default=8192, help="FlexAttention only up to this L")
    args = ap.parse_args()
    gpu = torch.cuda.get_device_name().replace(" ", "_")
    rows = []
    for s in [s for s in shapes(args.quick) if s["name"].startswith(args.only)]:
        row = dict(s)
        for method, fn in METHODS.items():
            for phase, bwd in (("fwd", False), ("fwdbwd", True)):
                key = f"{method}_{phase}"
                if method == "flex" and s["L"] > args.skip_flex_above:
                    row[key] = "skipped (L too large for >30 s budget)"
                    continue
                try:
                    ms, peak = measure(s, fn, bwd)
                    row[key] = dict(ms=ms, peak_mib=peak / 2**20)
                except (torch.OutOfMemoryError, TimeoutError, RuntimeError) as e:
                    row[key] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
                    torch.cuda.empty_cache()
        row["LxL_buffer_mib"] = s["B"] * s["L"] ** 2 * 2 / 2**20
        try:
            row["profile_ms"] = profile(s)
        except Exception as e:  # noqa: BLE001
            row["profile_ms"] = f"failed: {e}"
        rows.append(row)
        print(fmt_row(row), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"semantic_kernel_{gpu}.json").write_text(json.dumps(rows, indent=1))
    (out / f"semantic_kernel_{gpu}.txt").write_text("\n".join(fmt_row(r) for r in rows) + "\n")
    plot(rows, out / f"semantic_kernel_{gpu}.png")


def ratio(row, key):
    a, f = row.get(key), row.get("flash_" + key.split("_", 1)[1])
    if not isinstance(a, dict) or not isinstance(f, dict):
        return "   n/a" if not isinstance(a, dict) else f"{a['ms']:.2f}ms"
    return f"{a['ms'] / f['ms']:6.2f}x"


def mem(row, key):
    a = row.get(key)
    return f"{a['peak_mib']:8.0f}MiB" if isinstance(a, dict) else "      n/a"


def fmt_row(row):
    parts = [f"{row['name']:<26}"]
    for m in METHODS:
        for ph in ("fwd", "fwdbwd"):
            k = f"{m}_{ph}"
            t = f"{row[k]['ms']:.2f}ms" if m == "flash" and isinstance(row[k], dict) else ratio(row, k)
            parts.append(f"{k}={t} mem={mem(row, k).strip()}")
    parts.append(f"LxL={row['LxL_buffer_mib']:.0f}MiB")
    if isinstance(row.get("profile_ms"), dict):
        parts.append("profile: " + ", ".join(f"{k} {v:.2f}ms" for k, v in row["profile_ms"].items()))
    return " | ".join(parts)


def plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(12, 5))
    names = [r["name"] for r in rows]
    for i, m in enumerate(["sdpa_bias", "flex", "kernel"]):
        vals = []
        for r in rows:
            a, f = r.get(f"{m}_fwdbwd"), r.get("flash_fwdbwd")
            vals.append(a["ms"] / f["ms"] if isinstance(a, dict) and isinstance(f, dict) else 0)
        ax.bar([j + 0.27 * i for j in range(len(rows))], vals, width=0.27, label=m)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("fwd+bwd time / stock flash")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
