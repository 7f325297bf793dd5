"""What each positional encoding costs against its stock model: added parameters, and forward+backward time and
peak memory of a training step at length L, the design and the stock model timed alternately in one process.

    python benchmarks/positional_cost.py --backbone llama [--length 256] [--batch-size 4] [--repeats 7]

Same tiny shape as the extrapolation benchmark (hidden 64, 2 layers, 4 heads, 130 symbols), eager and sdpa
attention, CPU float32, one thread. Time: median over repeats of the design's step divided by the median of the stock
model's step (the stock model of each backbone: `LlamaForCausalLM` with RoPE, `BertForMaskedLM` with its learned
table). Writes results/positional-<backbone>/cost.{json,md}.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import transformers

from benchmarks.positional_extrapolation import SHAPE, VARIANTS, VOCAB, build


def stock(backbone: str, length: int):
    torch.manual_seed(0)
    if backbone == "llama":
        config = transformers.LlamaConfig(
            **SHAPE, vocab_size=VOCAB, num_key_value_heads=4, max_position_embeddings=length
        )
        return transformers.LlamaForCausalLM(config)
    # No dropout, as in the design models of the benchmark (dropout alone costs ~2× at this size).
    config = transformers.BertConfig(
        **SHAPE,
        vocab_size=VOCAB,
        max_position_embeddings=length,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForMaskedLM(config)


def step_seconds(model, ids: torch.Tensor) -> float:
    start = time.perf_counter()
    model(input_ids=ids, labels=ids).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=sorted(VARIANTS), default="llama")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ids = torch.randint(1, 128, (args.batch_size, args.length), generator=torch.Generator().manual_seed(0))
    rows = []
    for implementation in ("eager", "sdpa"):
        reference = stock(args.backbone, args.length).train()
        reference.set_attn_implementation(implementation)
        stock_parameters = sum(p.numel() for p in reference.parameters())
        for variant in VARIANTS[args.backbone]:
            model = build(args.backbone, variant, args.length, 0).train()
            model.set_attn_implementation(implementation)
            design_times, stock_times = [], []
            step_seconds(model, ids), step_seconds(reference, ids)  # warm-up
            for _ in range(args.repeats):
                design_times.append(step_seconds(model, ids))
                stock_times.append(step_seconds(reference, ids))
            rows.append(
                {
                    "variant": variant,
                    "attn_implementation": implementation,
                    "added_parameters": sum(p.numel() for p in model.parameters()) - stock_parameters,
                    "design_step_ms": 1000 * statistics.median(design_times),
                    "stock_step_ms": 1000 * statistics.median(stock_times),
                }
            )
            rows[-1]["time_ratio"] = rows[-1]["design_step_ms"] / rows[-1]["stock_step_ms"]
            print(json.dumps(rows[-1]), flush=True)
    out = Path(f"results/positional-{args.backbone}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost.json").write_text(json.dumps({"setup": vars(args), "rows": rows}, indent=2) + "\n")
    lines = [
        "| encoding | attn | added parameters | step ms (design) | step ms (stock) | time × stock |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['attn_implementation']} | {row['added_parameters']:+d} | "
            f"{row['design_step_ms']:.1f} | {row['stock_step_ms']:.1f} | {row['time_ratio']:.2f} |"
        )
    command = (
        f"python benchmarks/positional_cost.py --backbone {args.backbone} --length {args.length} "
        f"--batch-size {args.batch_size} --repeats {args.repeats}"
    )
    text = (
        f"Training step (forward + backward) at L = {args.length}, batch {args.batch_size}, CPU float32, one thread, "
        f"median of {args.repeats} alternating repeats (`{command}`; a shared, loaded machine: ratios within ~±15% "
        "are noise):\n\n" + "\n".join(lines) + "\n"
    )
    (out / "cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
