"""Resonant attention: time (and on CUDA peak memory) vs sequence length L and active-set size k.

Compared, per (L, k), for one layer's attention (query, key, value and the resonance features given):
- `stock_sdpa`: stock scaled dot-product attention (no resonance);
- `hybrid_abs`: the model's default, SDPA with lambda·Res/T as a bias, |q·q'| summed slot by slot;
- `hybrid_squared`: the same with (q·q')², three matmuls of per-token features;
- `reference`: the float-checkable reference score, which materializes (batch, heads, L, L, P).
Forward, and forward+backward, median of several runs (CUDA is synchronized before and after each timed run). On
CPU only times are reported (set OMP_NUM_THREADS on a shared machine); on CUDA also peak memory above the inputs
(torch.cuda.max_memory_allocated). Prints a table and writes the rows as JSON (`--out`, default
`benchmarks/results/resonant_<device>_<dtype>.json`).

    OMP_NUM_THREADS=1 python benchmarks/resonant.py [--lengths 64 128 256 512] [--top-k 2 4 8] [--out FILE]
    python benchmarks/resonant.py --device cuda --dtype bfloat16 --lengths 256 512 1024 2048 4096 --top-k 2 4 8
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from hf_archs.designs.resonant.naive import (
    CHANNELS_PER_SLOT,
    resonance_abs_chunked,
    resonance_inner_product,
    resonance_naive,
    slot_states,
)


WEIGHTS = (1 / 3, 1 / 3, 1 / 3)


def attention(kind, q, k, v, features, heads, top_k):
    if kind == "stock_sdpa":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    states = slot_states(features, heads, top_k)
    score = {
        "hybrid_abs": lambda s: resonance_abs_chunked(s, s, WEIGHTS),
        "hybrid_squared": lambda s: resonance_inner_product(s, s, WEIGHTS),
        "reference": lambda s: resonance_naive(s, s, WEIGHTS),
    }[kind](states)
    causal = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
    bias = score.to(q.dtype).masked_fill(~causal, float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def measure(kind, shape, backward, repeats, device, dtype):
    batch, heads, length, head_dim, slots, top_k = shape
    cuda = torch.device(device).type == "cuda"
    make = lambda *s: torch.randn(*s, device=device, dtype=dtype, requires_grad=backward)  # noqa: E731
    q, k, v = (make(batch, heads, length, head_dim) for _ in range(3))
    features = make(batch, length, heads * slots * CHANNELS_PER_SLOT)
    times = []
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    for _ in range(repeats + 1):  # the first run warms up
        for tensor in (q, k, v, features):
            tensor.grad = None
        if cuda:  # queued work must not be timed as this run's
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = attention(kind, q, k, v, features, heads, top_k)
        if backward:
            out.float().sum().backward()
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    result = {"ms": round(1e3 * statistics.median(times[1:]), 3)}
    if cuda:
        result["peak_mib"] = round((torch.cuda.max_memory_allocated(device) - base) / 2**20, 1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--top-k", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-max-length", type=int, default=512, help="skip the L·L·P reference above this")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="default: bfloat16 on CUDA")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cuda = torch.device(args.device).type == "cuda"
    args.dtype = args.dtype or ("bfloat16" if cuda else "float32")
    dtype = getattr(torch, args.dtype)
    device = torch.cuda.get_device_name(args.device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    if args.out is None:
        args.out = Path(__file__).parent / "results" / f"resonant_{'cuda' if cuda else 'cpu'}_{args.dtype}.json"
    rows = []
    print(f"device: {device}, {args.dtype}; batch 1, heads {args.heads}, head_dim {args.head_dim}, P {args.slots}")
    print(f"{'L':>6} {'k':>3} {'kind':>15} {'fwd ms':>10} {'fwd+bwd ms':>11} {'peak MiB (fwd+bwd)':>19}")
    for length in args.lengths:
        for top_k in args.top_k:
            for kind in ("stock_sdpa", "hybrid_abs", "hybrid_squared", "reference"):
                if kind == "reference" and length > args.reference_max_length:
                    continue
                shape = (1, args.heads, length, args.head_dim, args.slots, top_k)
                forward = measure(kind, shape, False, args.repeats, args.device, dtype)
                both = measure(kind, shape, True, args.repeats, args.device, dtype)
                row = dict(L=length, k=top_k, kind=kind, forward=forward, forward_backward=both)
                rows.append(row)
                peak = both.get("peak_mib", "-")
                print(f"{length:>6} {top_k:>3} {kind:>15} {forward['ms']:>10} {both['ms']:>11} {peak:>19}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"device": device, "args": vars(args) | {"out": str(args.out)}, "rows": rows}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
