"""Length extrapolation of every positional encoding of the suite: train small models from scratch at length L,
evaluate at 1, 2, 4, 8 and 16 × L with two protocols. The numbers behind the positional model cards.

    python benchmarks/positional_extrapolation.py --backbone llama [--length 64] [--steps 300] [--seeds 0,1,2]
    python benchmarks/positional_extrapolation.py --backbone bert  ...

Every variant is the same tiny model (hidden 64, 2 layers, 4 heads, `positional_<backbone>` with
`positional_encoding` set), trained with the same data order, initialization seed and budget (steps × batch × L
tokens, AdamW, lr 1e-3 unless `--lr`). Text: WordNet 3.0 entries (the harness's corpus) as one character stream
(bytes < 128, a 128-symbol vocabulary: a tokenizer's 30k-row output layer would cost more than the whole model
here). Held-out text from the test split, the same characters at every length.

Protocols (metric: loss in nats per character, token-weighted mean over the scored tokens):
- windows: the held-out stream cut into non-overlapping windows of the evaluation length, every token scored (early
  tokens of a window have little context);
- sliding: windows of the evaluation length moved by a stride of L, only the last L tokens of each scored (decoders;
  BERT: the middle L), so every scored token has the evaluation length of context (ALiBi's protocol).
Decoders: next-character loss. BERT: masked-character loss (15% of the scored tokens, fixed masks). Learned and scaled
tables have rows for L positions only: longer inputs cannot be run (n/a). Writes results/positional-<backbone>/.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import hf_archs
from hf_archs.data.wordnet import wordnet_texts
from hf_archs.evaluation.stats import mean_std


FACTORS = (1, 2, 4, 8, 16)
SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
VOCAB = 130  # bytes 0..127, 128 = [MASK] (BERT), 0 = padding
MASK = 128
VARIANTS = {
    "llama": ("rope", "nope", "alibi", "t5", "relative"),
    "bert": ("learned", "scaled", "sinusoidal", "continuous", "dynamic", "alibi", "t5", "relative", "nope"),
}
TABLE_VARIANTS = ("learned", "scaled")


def char_stream(texts: list[str], count: int) -> torch.Tensor:
    data = " ".join(texts).encode("ascii", errors="replace")[:count]
    return torch.tensor([b if 0 < b < 128 else ord("?") for b in data], dtype=torch.long)


def build(backbone: str, variant: str, length: int, seed: int):
    torch.manual_seed(seed)
    common = dict(SHAPE, vocab_size=VOCAB, positional_encoding=variant, pad_token_id=0)
    if backbone == "llama":
        config = hf_archs.PositionalLlamaConfig(**common, num_key_value_heads=4, max_position_embeddings=length)
        return hf_archs.PositionalLlamaForCausalLM(config)
    config = hf_archs.PositionalBertConfig(
        **common, max_position_embeddings=length, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    return hf_archs.PositionalBertForMaskedLM(config)


def masked(ids: torch.Tensor, generator: torch.Generator, scored: torch.Tensor | None = None):
    """BERT inputs: 15% of the (scored) characters replaced by [MASK], labels there and -100 elsewhere."""
    choose = torch.rand(ids.shape, generator=generator) < 0.15
    if scored is not None:
        choose &= scored
    labels = ids.masked_fill(~choose, -100)
    return ids.masked_fill(choose, MASK), labels


def loss_and_count(model, backbone: str, ids: torch.Tensor, scored: torch.Tensor, generator: torch.Generator):
    """Summed loss over the scored tokens and their count (scored: (batch, L) bool)."""
    if backbone == "llama":
        logits = model(input_ids=ids).logits[:, :-1]
        target_scored = scored[:, 1:]
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        return (losses * target_scored).sum(), int(target_scored.sum())
    inputs, labels = masked(ids, generator, scored)
    logits = model(input_ids=inputs).logits
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none", ignore_index=-100)
    return losses.sum(), int((labels != -100).sum())


def train(
    model, backbone, stream: torch.Tensor, length: int, steps: int, batch_size: int, seed: int, lr: float
) -> float:
    windows = stream[: len(stream) // length * length].view(-1, length)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    loss = float("nan")
    for step in range(steps):
        rows = windows[order[(torch.arange(batch_size) + step * batch_size) % len(order)]]
        total, count = loss_and_count(model, backbone, rows, torch.ones_like(rows, dtype=torch.bool), generator)
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()
        loss = (total / count).item()
    return loss


def evaluate(model, backbone, variant, stream, length, windows_per_length, batch_size) -> dict:
    """loss per protocol and length factor (None where the encoding cannot run that length)."""
    results = {}
    model.eval()
    for factor in FACTORS:
        span = factor * length
        for protocol in ("windows", "sliding"):
            key = f"{protocol}@{factor}x"
            if variant in TABLE_VARIANTS and factor > 1:
                results[key] = None
                continue
            if protocol == "windows":
                # The same characters at every length: windows_per_length × 16 × L characters.
                usable = windows_per_length * max(FACTORS) * length
                rows = stream[:usable].view(-1, span)
                scored = torch.ones_like(rows, dtype=torch.bool)
            else:
                # windows_per_length × 16 windows, each scoring L new characters after span − L of context.
                starts = torch.arange(windows_per_length * max(FACTORS)) * length
                rows = torch.stack([stream[s : s + span] for s in starts.tolist()])
                scored = torch.zeros_like(rows, dtype=torch.bool)
                if backbone == "llama":
                    scored[:, span - length :] = True
                else:
                    middle = (span - length) // 2
                    scored[:, middle : middle + length] = True
            generator = torch.Generator().manual_seed(1234)
            total, count = 0.0, 0
            with torch.no_grad():
                for start in range(0, len(rows), max(1, batch_size // factor)):
                    end = start + max(1, batch_size // factor)
                    loss, n = loss_and_count(model, backbone, rows[start:end], scored[start:end], generator)
                    total, count = total + loss.item(), count + n
            results[key] = total / count
    return results


def table(runs: list[dict], variants, length: int, protocol: str) -> list[str]:
    header = f"| encoding ({protocol}) | " + " | ".join(f"{f}×L ({f * length})" for f in FACTORS) + " |"
    lines = [header, "|" + " --- |" * (len(FACTORS) + 1)]
    for variant in variants:
        cells = []
        for factor in FACTORS:
            values = [run[f"{protocol}@{factor}x"] for run in runs if run["variant"] == variant]
            cells.append("n/a" if None in values or not values else "{:.3f} ± {:.3f}".format(*mean_std(values)))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def plot(runs: list[dict], variants, length: int, backbone: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, protocol in zip(axes, ("windows", "sliding")):
        for variant in variants:
            xs, means, stds = [], [], []
            for factor in FACTORS:
                values = [run[f"{protocol}@{factor}x"] for run in runs if run["variant"] == variant]
                if values and None not in values:
                    xs.append(factor * length)
                    means.append(np.mean(values))
                    stds.append(mean_std(values)[1])
            if xs:
                axis.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=variant)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("evaluation length (characters)")
        axis.set_title(f"{protocol} (trained at L = {length})")
        axis.axvline(length, color="grey", linestyle=":")
    axes[0].set_ylabel("held-out loss (nats / char)")
    axes[1].legend(fontsize=8)
    figure.suptitle(f"positional_{backbone}: length extrapolation")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=sorted(VARIANTS), default="llama")
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--variants", default=None, help="comma-separated subset (default: all of the backbone)")
    parser.add_argument("--eval-windows", type=int, default=2, help="held-out characters: this × 16 × L")
    parser.add_argument("--out", default=None)
    parser.add_argument("--save-model", default=None, help="folder to save the last trained model of each variant")
    parser.add_argument("--render", default=None, help="only rewrite the tables and plot of a stored results folder")
    args = parser.parse_args()
    if args.render:
        out = Path(args.render)
        record = json.loads((out / "extrapolation.json").read_text())
        backbone = record["setup"]["backbone"]
        write_report(record, out, _image(out, backbone, default=out.name == f"positional-{backbone}"))
        return
    torch.set_num_threads(1)
    variants = args.variants.split(",") if args.variants else VARIANTS[args.backbone]
    length, seeds = args.length, [int(s) for s in args.seeds.split(",")]
    train_stream = char_stream(wordnet_texts("train"), args.steps * args.batch_size * length)
    test_stream = char_stream(wordnet_texts("test"), (args.eval_windows * max(FACTORS) + max(FACTORS)) * length)
    out = Path(args.out or f"results/positional-{args.backbone}")
    runs = []
    for seed in seeds:
        for variant in variants:
            start = time.perf_counter()
            model = build(args.backbone, variant, length, seed)
            final = train(model, args.backbone, train_stream, length, args.steps, args.batch_size, seed, args.lr)
            trained = time.perf_counter() - start
            results = evaluate(model, args.backbone, variant, test_stream, length, args.eval_windows, args.batch_size)
            runs.append(
                {
                    "variant": variant,
                    "seed": seed,
                    "final_train_loss": final,
                    **results,
                    "train_seconds": round(trained, 1),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(json.dumps(runs[-1]), flush=True)
            if args.save_model:
                model.save_pretrained(Path(args.save_model) / variant)
    out.mkdir(parents=True, exist_ok=True)
    setup = {key: value for key, value in vars(args).items() if key not in ("out", "save_model")}
    record = {"setup": {**setup, **SHAPE, "vocab_size": VOCAB, "factors": FACTORS}, "runs": runs}
    (out / "extrapolation.json").write_text(json.dumps(record, indent=2) + "\n")
    write_report(record, out, _image(out, args.backbone, default=not args.out))


def _image(out: Path, backbone: str, default: bool) -> Path:
    """The card's plot for the default results folder; another folder keeps its plot beside its tables."""
    card_image = Path(f"model_cards/images/positional_{backbone}_extrapolation.png")
    return card_image if default else out / "extrapolation.png"


def write_report(record: dict, out: Path, image: Path) -> None:
    """extrapolation.md (the tables the card shows) and the plot, from a stored record."""
    setup, runs = record["setup"], record["runs"]
    variants = list(dict.fromkeys(run["variant"] for run in runs))
    length = setup["length"]
    command = (
        f"python benchmarks/positional_extrapolation.py --backbone {setup['backbone']} --length {length} "
        f"--steps {setup['steps']} --batch-size {setup['batch_size']} --seeds {setup['seeds']} "
        f"--eval-windows {setup['eval_windows']}" + (f" --lr {setup['lr']:g}" if "lr" in setup else "")
    )
    seconds = {v: np.mean([r["train_seconds"] for r in runs if r["variant"] == v]) for v in variants}
    cost = ["| encoding | train seconds (mean) |", "| --- | --- |"] + [
        f"| {v} | {s:.1f} |" for v, s in seconds.items()
    ]
    text = (
        f"Trained at L = {length} characters ({setup['steps']} steps × batch {setup['batch_size']}, seeds "
        f"{setup['seeds']}), CPU float32, one thread (`{command}`). Held-out loss in nats per character, mean ± "
        "sample std over seeds (ddof 1).\n\n"
        + "\n".join(table(runs, variants, length, "windows"))
        + "\n\n"
        + "\n".join(table(runs, variants, length, "sliding"))
        + "\n\n"
        + "\n".join(cost)
        + "\n"
    )
    (out / "extrapolation.md").write_text(text)
    plot(runs, variants, length, setup["backbone"], image)
    print(text)


if __name__ == "__main__":
    main()
