"""Semantic attention's paths against stock flash attention, forward and forward + backward, in one process.

    python benchmarks/semantic_kernel.py [--out benchmarks/results] [--quick]

Columns (ratios to stock SDPA with the flash backend, same shapes, same process): the SDPA path with the
materialized (batch, heads, L, L) bias, FlexAttention with S = x̂x̂ᵀ as a learnable captured tensor (skipped past
--flex-max-length), and the fused Triton kernel (`hf_archs/designs/semantic/kernel.py`). Gradients for q, k, v, x
and tau. Times are medians of `triton.testing.do_bench`; peak memory is the allocator's peak above the inputs.
Shapes: Llama-8B-like layers, the real Gemma-3-270m layers (with and without its 512-token sliding window) and
MiniLM. Prints a table; writes JSON, TXT and PNG named after the GPU. Needs a CUDA device.
"""

import argparse
import json
from pathlib import Path

import torch
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

from hf_archs.core.attention import causal_mask
from hf_archs.designs.semantic.kernel import semantic_attention_fused
from hf_archs.designs.semantic.naive import semantic_bias, unit_normalize


SHAPES = [
    # name, batch, heads, kv_heads, head_dim, width, causal, window, lengths
    ("llama-8b", 1, 32, 8, 128, 4096, True, None, (2048, 4096, 8192, 16384)),
    ("gemma-3-270m full", 1, 4, 1, 256, 640, True, None, (2048, 8192, 32768)),
    ("gemma-3-270m sliding", 1, 4, 1, 256, 640, True, 512, (2048, 8192, 32768)),
    ("minilm", 32, 12, 12, 32, 384, False, None, (512,)),
]


def make_inputs(batch, heads, kv_heads, head_dim, width, length, dtype):
    def r(*shape):
        return torch.randn(*shape, device="cuda", dtype=dtype, requires_grad=True)

    x = torch.randn(batch, length, width, device="cuda", dtype=dtype, requires_grad=True)
    tau = torch.full((heads,), 0.3, device="cuda", requires_grad=True)
    return (
        r(batch, heads, length, head_dim),
        r(batch, kv_heads, length, head_dim),
        r(batch, kv_heads, length, head_dim),
        x,
        tau,
    )


def _mask(length, causal, window):
    if not causal and window is None:
        return None
    mask = causal_mask(length, length, "cuda")
    if window is not None:
        positions = torch.arange(length, device="cuda")
        mask &= positions[:, None] - positions[None, :] < window
    return mask


def flash(q, k, v, x, tau, causal, window):
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    if window is not None:  # flash has no window in torch SDPA: a boolean mask falls back to the efficient kernel
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=_mask(q.shape[2], causal, window))
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)


def sdpa_bias(q, k, v, x, tau, causal, window):
    group = q.shape[1] // k.shape[1]
    x_hat = unit_normalize(x)
    bias = semantic_bias(tau, x_hat, x_hat, q.dtype)
    mask = _mask(q.shape[2], causal, window)
    if mask is not None:
        bias = bias.masked_fill(~mask, torch.finfo(q.dtype).min)
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def flex(q, k, v, x, tau, causal, window):
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    x_hat = unit_normalize(x)
    similarity = torch.matmul(x_hat, x_hat.transpose(-1, -2))  # (batch, L, L), learnable through x

    def score_mod(score, b, h, q_idx, kv_idx):
        return score + tau[h] * similarity[b, q_idx, kv_idx]

    def allowed(b, h, q_idx, kv_idx):
        keep = q_idx >= kv_idx if causal else q_idx >= 0
        return keep & (q_idx - kv_idx < window) if window is not None else keep

    block_mask = create_block_mask(allowed, None, None, q.shape[2], q.shape[2]) if causal else None
    return flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask, enable_gqa=True)


def kernel(q, k, v, x, tau, causal, window):
    x_hat = unit_normalize(x)
    return semantic_attention_fused(
        q, k, v, x_hat, x_hat, tau, scaling=q.shape[-1] ** -0.5, is_causal=causal, sliding_window=window
    )


PATHS = {"flash": flash, "sdpa_bias": sdpa_bias, "flex": flex, "kernel": kernel}


def measure(path, inputs, causal, window):
    """(forward ms, forward+backward ms, peak MiB above the inputs), or None if it ran out of memory."""
    function = PATHS[path]
    if path == "flex":
        function = torch.compile(flex)
    try:
        out = function(*inputs, causal, window)
        grad = torch.randn_like(out)
        with torch.no_grad():
            forward = triton.testing.do_bench(lambda: function(*inputs, causal, window), warmup=25, rep=100)

        def step():
            for t in inputs:
                t.grad = None
            function(*inputs, causal, window).backward(grad)

        both = triton.testing.do_bench(step, warmup=25, rep=100)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        return forward, both, peak
    except Exception as error:  # out of memory, or a compiler failure (FlexAttention recompiling per length)
        print(f"{path}: {type(error).__name__}: {str(error)[:200]}", flush=True)
        torch.cuda.empty_cache()
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--flex-max-length", type=int, default=2048)
    parser.add_argument("--bias-max-length", type=int, default=16384)
    parser.add_argument("--quick", action="store_true", help="the smallest length of each shape only")
    args = parser.parse_args()
    gpu = torch.cuda.get_device_name()
    rows = []
    for name, batch, heads, kv_heads, head_dim, width, causal, window, lengths in SHAPES:
        for length in lengths[:1] if args.quick else lengths:
            inputs = make_inputs(batch, heads, kv_heads, head_dim, width, length, torch.bfloat16)
            row = {"shape": name, "length": length, "batch": batch, "heads": heads, "head_dim": head_dim}
            for path in PATHS:
                skip = (path == "flex" and length > args.flex_max_length) or (
                    path == "sdpa_bias" and length > args.bias_max_length
                )
                row[path] = None if skip else measure(path, inputs, causal, window)
            rows.append(row)
            print(row, flush=True)
            del inputs
            torch.cuda.empty_cache()

    def ratio(row, path, index):
        if row[path] is None or row["flash"] is None:
            return "-"
        return f"{row[path][index] / row['flash'][index]:.2f}x"

    lines = [f"semantic attention vs stock flash SDPA, {gpu}, bf16; ratios to flash in the same process"]
    header = f"{'shape':<22}{'L':>7}{'flash fwd+bwd':>15}{'flash MiB':>11}"
    for path in ("sdpa_bias", "flex", "kernel"):
        header += f"{path + ' fwd':>14}{path + ' f+b':>14}{path + ' mem':>14}"
    lines.append(header)
    for row in rows:
        flash_row = row["flash"]
        line = f"{row['shape']:<22}{row['length']:>7}"
        line += f"{flash_row[1]:>13.2f}ms{flash_row[2]:>11.0f}" if flash_row else f"{'-':>15}{'-':>11}"
        for path in ("sdpa_bias", "flex", "kernel"):
            line += f"{ratio(row, path, 0):>14}{ratio(row, path, 1):>14}{ratio(row, path, 2):>14}"
        lines.append(line)
    table = "\n".join(lines)
    print(table)
    stem = "semantic_kernel_" + gpu.split()[-1].lower().replace(" ", "_")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps({"gpu": gpu, "rows": rows}, indent=2) + "\n")
    (args.out / f"{stem}.txt").write_text(table + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for path in ("sdpa_bias", "flex", "kernel"):
        points = [(f"{r['shape']}\n{r['length']}", r[path][1] / r["flash"][1]) for r in rows if r[path] and r["flash"]]
        axes[0].plot([p[0] for p in points], [p[1] for p in points], "o-", label=path)
        points = [(f"{r['shape']}\n{r['length']}", r[path][2] / r["flash"][2]) for r in rows if r[path] and r["flash"]]
        axes[1].plot([p[0] for p in points], [p[1] for p in points], "o-", label=path)
    for axis, title in zip(axes, ("fwd+bwd time / flash", "peak memory / flash")):
        axis.set_yscale("log"), axis.set_title(title), axis.legend(), axis.tick_params(axis="x", labelsize=6)
    fig.suptitle(f"semantic attention paths vs flash ({gpu}, bf16)")
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=120)


if __name__ == "__main__":
    main()
