"""Cost of semantic attention's paths against stock SDPA, forward + backward, in one process.

    python benchmarks/semantic_attention.py [--out DIR] [--lengths 1024 2048 4096]

Prints a table of time and peak-memory ratios (semantic path / stock SDPA, causal, same shapes) and writes
`semantic_attention.json` and `semantic_attention.png` to --out. Needs a CUDA device for meaningful numbers.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from hf_archs.designs.semantic.ops import semantic_eager_attention, semantic_sdpa_attention, unit_normalize
from hf_archs.testing import SemanticLayerStub


def stock_sdpa(module, q, k, v, xq, xk):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def semantic(function):
    def run(module, q, k, v, xq, xk):
        out, _ = function(
            module, q, k, v, None, scaling=q.shape[-1] ** -0.5, semantic_query_states=xq, semantic_key_states=xk
        )
        return out

    return run


PATHS = {
    "stock_sdpa": stock_sdpa,
    "semantic_sdpa": semantic(semantic_sdpa_attention),
    "semantic_eager": semantic(semantic_eager_attention),
}


def measure(path, length, args, device):
    torch.manual_seed(0)
    shape = (args.batch, args.heads, length, args.head_dim)
    q, k, v = (torch.randn(shape, device=device, dtype=args.dtype, requires_grad=True) for _ in range(3))
    x = torch.randn(
        args.batch, length, args.heads * args.head_dim, device=device, dtype=args.dtype, requires_grad=True
    )
    module = SemanticLayerStub(torch.full((args.heads,), 0.5, device=device), is_causal=True).to(args.dtype)

    def step():
        xn = unit_normalize(x)
        out = PATHS[path](module, q, k, v, xn, xn)
        out.float().sum().backward()

    try:
        for _ in range(3):  # warm-up: kernel selection and allocator growth happen on the first calls
            step()
        torch.cuda.synchronize(device) if device.type == "cuda" else None
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        base_memory = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
        start = time.perf_counter()
        for _ in range(args.repeats):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = (time.perf_counter() - start) / args.repeats
        peak = (torch.cuda.max_memory_allocated(device) - base_memory) if device.type == "cuda" else float("nan")
        return {"ms": seconds * 1e3, "peak_mib": peak / 2**20}
    except torch.OutOfMemoryError:
        return {"ms": float("nan"), "peak_mib": float("nan"), "oom": True}
    finally:
        torch.cuda.empty_cache() if device.type == "cuda" else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", type=lambda s: getattr(torch, s), default=torch.bfloat16)
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks"))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    rows = []
    for length in args.lengths:
        results = {path: measure(path, length, args, device) for path in PATHS}
        base = results["stock_sdpa"]
        for path, result in results.items():
            rows.append(
                {
                    "length": length,
                    "path": path,
                    **result,
                    "time_ratio": result["ms"] / base["ms"],
                    "memory_ratio": result["peak_mib"] / base["peak_mib"],
                }
            )

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"semantic attention fwd+bwd, {device_name}, {args.dtype}, batch {args.batch}, {args.heads} heads, "
        f"head_dim {args.head_dim}, causal; ratios vs stock SDPA in the same process"
    )
    print(f"{'L':>6} {'path':<15} {'ms':>9} {'peak MiB':>9} {'time x':>7} {'mem x':>7}")
    for row in rows:
        print(
            f"{row['length']:>6} {row['path']:<15} {row['ms']:>9.2f} {row['peak_mib']:>9.1f} "
            f"{row['time_ratio']:>7.2f} {row['memory_ratio']:>7.2f}"
        )

    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": device_name,
        "dtype": str(args.dtype),
        "batch": args.batch,
        "heads": args.heads,
        "head_dim": args.head_dim,
        "torch": torch.__version__,
    }
    (args.out / "semantic_attention.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in zip(axes, ("ms", "peak_mib"), ("fwd+bwd time (ms)", "peak memory (MiB, CUDA only)")):
        axis.set_xlabel("sequence length"), axis.set_ylabel(label), axis.grid(alpha=0.3)
        measured = [r for r in rows if r[key] == r[key] and r[key] > 0]  # NaN: out of memory, or memory on CPU
        if not measured:
            continue
        for path in PATHS:
            points = [r for r in measured if r["path"] == path]
            axis.plot([r["length"] for r in points], [r[key] for r in points], marker="o", label=path)
        axis.set_xscale("log", base=2), axis.set_yscale("log"), axis.legend()
    fig.suptitle(f"semantic attention vs stock SDPA ({device_name}, {args.dtype})")
    fig.tight_layout()
    fig.savefig(args.out / "semantic_attention.png", dpi=120)


if __name__ == "__main__":
    main()
