"""Multi-scale layers: parameters, FLOPs, time and memory against the stock model, in one process.

The stock model is BERT of all-MiniLM-L6-v2's shape (d = 384, 12 heads, 6 layers, MLP 1536) with random weights;
the multi-scale model is the same with every layer multi-scale (default scales 64, 128, 256, 384) unless
`--scales`/`--layers` say otherwise, or with one multi-scale block after the encoder (`--placement after_encoder`).
Measured per model, on a (batch, L) input of random tokens:
- parameters (all, and the encoder layers alone);
- FLOPs of one forward, counted by `torch.utils.flop_counter.FlopCounterMode` (matmuls and attention; 2 per
  multiply-add);
- time of a forward (no grad) and of a forward + backward, median of `--repeats` runs after a warm-up;
- memory: on CUDA the peak allocated during forward + backward above the model; everywhere, the bytes of tensors
  saved for backward (the activation memory of training), counted with saved-tensor hooks.
Ratios (multi-scale / stock) are printed last; `--out FILE` writes everything as JSON.

    OMP_NUM_THREADS=1 python benchmarks/multiscale.py [--batch B] [--length L] [--repeats 5] [--placement P] [--out F]
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModel, BertConfig

import hf_archs  # noqa: F401  (registers the zoo)
from hf_archs import MultiscaleBertConfig


MINILM_SHAPE = dict(
    vocab_size=30522,
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=12,
    intermediate_size=1536,
    max_position_embeddings=512,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def build(kind: str, args, device):
    torch.manual_seed(0)
    if kind == "stock":
        config = BertConfig(**MINILM_SHAPE, attn_implementation=args.attn)
    else:
        fields = {
            "multiscale_scales": args.scales,
            "multiscale_layers": args.layers,
            "multiscale_placement": args.placement,
            "multiscale_branch_weight": 0.02,
        }
        config = MultiscaleBertConfig(**MINILM_SHAPE, **fields, attn_implementation=args.attn)
    return AutoModel.from_config(config).to(device)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def saved_activation_bytes(model, batch) -> int:
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(**batch).last_hidden_state.sum()
    return total


def measure(kind: str, args, device) -> dict:
    model = build(kind, args, device)
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(100, MINILM_SHAPE["vocab_size"], (args.batch, args.length), generator=generator)
    batch = {"input_ids": input_ids.to(device), "attention_mask": torch.ones_like(input_ids).to(device)}
    layers = model.encoder.layer
    result = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layer_parameters": sum(p.numel() for p in layers.parameters()),
    }
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**batch)
    result["forward_flops"] = counter.get_total_flops()

    def forward():
        with torch.no_grad():
            model(**batch)

    def forward_backward():
        model(**batch).last_hidden_state.float().pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    result["forward_seconds"] = timed(forward, device, args.repeats)
    model.train()
    result["forward_backward_seconds"] = timed(forward_backward, device, args.repeats)
    result["saved_activation_bytes"] = saved_activation_bytes(model, batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        forward_backward()
        result["peak_training_bytes_above_model"] = torch.cuda.max_memory_allocated() - base
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scales", type=int, nargs="+", default=None, help="default: 64 128 256 384")
    parser.add_argument("--layers", type=int, nargs="+", default=None, help="default: every layer")
    parser.add_argument(
        "--placement", default="layers", choices=["layers", "after_encoder"], help="after_encoder: one block"
    )
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    results = {kind: measure(kind, args, device) for kind in ("stock", "multiscale")}
    ratios = {key: results["multiscale"][key] / results["stock"][key] for key in results["stock"]}
    setup = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "length": args.length,
        "scales": args.scales or [64, 128, 256, 384],
        "placement": args.placement,
        "layers": args.layers or ("the block after the last" if args.placement == "after_encoder" else "all"),
        "attn_implementation": args.attn,
    }
    print(json.dumps(setup))
    print(f"{'measure':<34}{'stock':>16}{'multiscale':>16}{'ratio':>9}")
    for key in results["stock"]:
        stock, multiscale = results["stock"][key], results["multiscale"][key]
        fmt = (lambda v: f"{v:16.4f}") if isinstance(stock, float) else (lambda v: f"{v:16,d}")
        print(f"{key:<34}{fmt(stock)}{fmt(multiscale)}{ratios[key]:9.3f}")
    if args.out:
        args.out.write_text(json.dumps({"setup": setup, "results": results, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
