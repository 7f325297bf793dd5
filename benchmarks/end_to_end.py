"""End to end on one GPU: LoRA training tokens/s and prefill latency of a design model vs its stock model.

The model is built from a stock config (default: google/gemma-3-270m's own config, `configs/gemma-3-270m.json`) with
random weights: throughput and latency depend on the shapes, not on the weight values, and the 540 MB checkpoint does
not travel to the GPU machine. Every variant is measured in the same process:

- stock with `attn_implementation="sdpa"` (PyTorch's flash kernel for causal batches without padding);
- the design at its active setting with each of its accepted implementations (`sdpa`: the bias path, and its fused
  kernels, e.g. `semantic_triton`).

Training: LoRA (PEFT defaults, r = 8, the design's parameters as `modules_to_save`), bf16 weights, AdamW, batches of
random token ids (`--tokens-per-step` tokens at each length); tokens/s over `--steps` steps after `--warmup` steps.
Prefill: one sequence of L tokens, `use_cache=True`, no grad; median latency of `--repeats`.

    python benchmarks/end_to_end.py --design semantic [--lengths 2048,8192] [--out benchmarks/results]
"""

import argparse
import copy
import gc
import json
import statistics
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig

from hf_archs.backbones import backbone_for
from hf_archs.registry import zoo_model
from hf_archs.training.lora import apply_lora, optimizer_parameter_groups


CONFIGS = Path(__file__).with_name("configs")


def build(
    stock_config,
    design: str | None,
    implementation: str,
    settings: dict | None = None,
    auto_class: str = "AutoModelForCausalLM",
    device: str = "cuda",
    dtype: torch.dtype = torch.bfloat16,
):
    """A model of the stock config (design=None) or of the design at `settings` (default: its active setting)."""
    torch.manual_seed(0)
    if design is None:
        config = copy.deepcopy(stock_config)
    else:
        entry = zoo_model(design, backbone_for(stock_config).name)
        settings = entry.active_setting if settings is None else settings
        config = entry.backbone.design_config(entry.config_class, stock_config, **settings)
    with torch.device(device):  # design configs are registered with the Auto classes
        return getattr(transformers, auto_class).from_config(config, dtype=dtype, attn_implementation=implementation)


def cuda_time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def measure(stock_config, design, implementation, length, args) -> dict:
    model = build(stock_config, design, implementation)
    vocab = model.config.vocab_size
    batch = max(1, args.tokens_per_step // length)
    generator = torch.Generator(device="cuda").manual_seed(0)

    # Prefill: the whole prompt at once, filling a KV cache.
    model.eval()
    prompt = torch.randint(0, vocab, (1, length), device="cuda", generator=generator)
    with torch.no_grad():
        prefill = cuda_time(lambda: model(input_ids=prompt, use_cache=True), args.warmup + args.repeats)
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        model(input_ids=prompt, use_cache=True)
    prefill_memory = torch.cuda.max_memory_allocated()

    # LoRA training steps.
    peft_model = apply_lora(model, dropout=0.0)
    peft_model.train()
    optimizer = torch.optim.AdamW(optimizer_parameter_groups(peft_model, 2e-4, 1e-2))
    ids = torch.randint(0, vocab, (batch, length), device="cuda", generator=generator)

    def step():
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    cuda_time(step, args.warmup)
    torch.cuda.reset_peak_memory_stats()
    train = cuda_time(step, args.steps)
    train_memory = torch.cuda.max_memory_allocated()
    return {
        "design": design or "stock",
        "attn_implementation": implementation,
        "length": length,
        "train_batch": batch,
        "train_tokens_per_s": batch * length * args.steps / sum(train),
        "train_peak_memory_gib": train_memory / 1024**3,
        "prefill_ms": 1e3 * statistics.median(prefill[args.warmup :]),
        "prefill_peak_memory_gib": prefill_memory / 1024**3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--design", default="semantic")
    parser.add_argument("--config", default=str(CONFIGS / "gemma-3-270m.json"), help="a stock config.json")
    parser.add_argument("--lengths", default="2048,8192")
    parser.add_argument("--tokens-per-step", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("end_to_end.py measures on a CUDA GPU; none is available.")

    stock_config = AutoConfig.from_pretrained(args.config)
    entry = zoo_model(args.design, backbone_for(stock_config).name)
    variants = [(None, "sdpa"), (args.design, "sdpa")]
    variants += [(args.design, key) for design in entry.designs for key in design.capabilities.kernels]
    rows = []
    for length in [int(n) for n in args.lengths.split(",")]:
        stock = None
        for design, implementation in variants:
            row = measure(stock_config, design, implementation, length, args)
            gc.collect()  # the measured model is gone: free its memory before the next one
            torch.cuda.empty_cache()
            stock = stock or row
            row["train_throughput_vs_stock"] = row["train_tokens_per_s"] / stock["train_tokens_per_s"]
            row["prefill_latency_vs_stock"] = row["prefill_ms"] / stock["prefill_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)

    device = torch.cuda.get_device_name(0)
    header = (
        f"{'model':<10} {'attention':<16} {'L':>6} {'batch':>5} {'train tok/s':>12} {'× stock':>8} "
        f"{'train GiB':>9} {'prefill ms':>10} {'× stock':>8} {'prefill GiB':>11}"
    )
    lines = [f"End to end, {Path(args.config).stem} shapes, random weights, bf16, LoRA r=8, {device}", header]
    for r in rows:
        lines.append(
            f"{r['design']:<10} {r['attn_implementation']:<16} {r['length']:>6} {r['train_batch']:>5} "
            f"{r['train_tokens_per_s']:>12.0f} {r['train_throughput_vs_stock']:>8.2f} "
            f"{r['train_peak_memory_gib']:>9.2f} {r['prefill_ms']:>10.2f} {r['prefill_latency_vs_stock']:>8.2f} "
            f"{r['prefill_peak_memory_gib']:>11.2f}"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"end_to_end_{args.design}_{Path(args.config).stem}_{device.replace(' ', '_')}"
    meta = {"device": device, "torch": torch.__version__, "args": vars(args)}
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / f"{stem}.txt").write_text(table + "\n")


if __name__ == "__main__":
    main()
