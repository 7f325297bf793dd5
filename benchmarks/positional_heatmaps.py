"""Heatmaps of the positional suite: each encoding (position × channel, and position × position cosine similarity),
each relative bias (query position × key position, per head), and attention by position of trained models.

    python benchmarks/positional_heatmaps.py [--models outputs/positional-llama-models] [--bert-models ...]

Models are the ones `benchmarks/positional_extrapolation.py --save-model DIR` trained (one folder per variant); an
absolute encoding without a trained BERT model is drawn as built (sinusoidal is fixed; a fresh learned table is noise).
Attention by position: eager attention probabilities of held-out text at 2 × the training length, averaged over
heads, layers and windows, per (query position, key position). PNGs under model_cards/images/.
"""

import argparse
from pathlib import Path

import matplotlib
import torch
import transformers

import hf_archs
from hf_archs.data.wordnet import wordnet_texts
from hf_archs.designs.positional.design import AbsolutePositionEncoding, RelativePositionBias


matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402


IMAGES = Path("model_cards/images")


def absolute_module(variant: str, bert_models: Path | None, length: int) -> tuple[AbsolutePositionEncoding, str]:
    folder = bert_models / variant if bert_models else None
    if folder is not None and folder.exists():
        model = transformers.AutoModel.from_pretrained(folder)
        return model.embeddings.position_embeddings, "trained"
    torch.manual_seed(0)
    config = hf_archs.PositionalBertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=130,
        max_position_embeddings=length, positional_encoding=variant,
    )  # fmt: skip
    return transformers.AutoModel.from_config(config).embeddings.position_embeddings, "as built"


def draw_encodings(bert_models: Path | None, length: int) -> Path:
    variants = ("learned", "scaled", "sinusoidal", "continuous")
    figure, axes = plt.subplots(2, len(variants), figsize=(4 * len(variants), 7))
    for column, variant in enumerate(variants):
        module, state = absolute_module(variant, bert_models, length)
        with torch.no_grad():
            table = module(torch.arange(length)).squeeze(0).float()
        unit = torch.nn.functional.normalize(table, dim=-1)
        axes[0, column].imshow(table.T, aspect="auto", cmap="RdBu", interpolation="nearest")
        axes[0, column].set_title(f"{variant} ({state}): channel × position", fontsize=9)
        axes[1, column].imshow(unit @ unit.T, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
        axes[1, column].set_title(f"{variant}: cosine(pe(i), pe(j))", fontsize=9)
        axes[1, column].set_xlabel("position")
    figure.tight_layout()
    path = IMAGES / "positional_encodings.png"
    figure.savefig(path, dpi=100)
    return path


def draw_biases(models: Path | None, length: int) -> Path:
    variants = ("alibi", "t5", "relative")
    figure, axes = plt.subplots(1, len(variants), figsize=(4.5 * len(variants), 4))
    span = 2 * length
    for axis, variant in zip(axes, variants):
        folder = models / variant if models else None
        model = transformers.AutoModelForCausalLM.from_pretrained(folder) if folder and folder.exists() else None
        if model is None:
            torch.manual_seed(0)
            config = hf_archs.PositionalLlamaConfig(
                hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=130,
                positional_encoding=variant,
            )  # fmt: skip
            model = transformers.AutoModelForCausalLM.from_config(config)
        term = next(m for m in model.modules() if isinstance(m, RelativePositionBias))
        positions = torch.arange(span, dtype=torch.float32)[None]
        # `relative` reads a query from the attention input: a fixed random one (alibi and t5 ignore it).
        hidden = torch.randn(1, span, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            features = term.features(hidden, positions)
            bias = term.bias(features, features, torch.float32)[0, 0]
        causal = torch.ones(span, span).tril().bool()
        image = axis.imshow(bias.masked_fill(~causal, float("nan")), cmap="magma", interpolation="nearest")
        axis.set_title(f"{variant}: bias of head 0, layer 0 (query × key)", fontsize=9)
        axis.axvline(length - 0.5, color="cyan", linewidth=0.6)
        figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    path = IMAGES / "positional_biases.png"
    figure.savefig(path, dpi=100)
    return path


def draw_attention(models: Path, length: int) -> Path:
    variants = [v for v in ("rope", "nope", "alibi", "t5", "relative") if (models / v).exists()]
    span = 2 * length
    data = " ".join(wordnet_texts("test")).encode("ascii", errors="replace")[: 8 * span]
    ids = torch.tensor([b if 0 < b < 128 else ord("?") for b in data]).view(8, span)
    figure, axes = plt.subplots(1, len(variants), figsize=(4 * len(variants), 4))
    for axis, variant in zip(axes, variants):
        model = transformers.AutoModelForCausalLM.from_pretrained(models / variant, attn_implementation="eager")
        with torch.no_grad():
            attentions = model(input_ids=ids, output_attentions=True).attentions
        mean = torch.stack([a.mean(dim=(0, 1)) for a in attentions]).mean(0)
        axis.imshow(mean.clamp_min(1e-4).log10(), cmap="viridis", vmin=-3, vmax=0, interpolation="nearest")
        axis.axvline(length - 0.5, color="red", linewidth=0.6)
        axis.axhline(length - 0.5, color="red", linewidth=0.6)
        axis.set_title(f"{variant}: log10 mean attention", fontsize=9)
        axis.set_xlabel("key position")
    axes[0].set_ylabel("query position")
    figure.suptitle(f"Attention by position at 2 × the training length ({length}; red line)", fontsize=10)
    figure.tight_layout()
    path = IMAGES / "positional_attention.png"
    figure.savefig(path, dpi=100)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="outputs/positional-llama-models")
    parser.add_argument("--bert-models", default="outputs/positional-bert-models")
    parser.add_argument("--length", type=int, default=32)
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    models, bert_models = Path(args.models), Path(args.bert_models)
    print(draw_encodings(bert_models if bert_models.exists() else None, args.length))
    print(draw_biases(models if models.exists() else None, args.length))
    if models.exists():
        print(draw_attention(models, args.length))


if __name__ == "__main__":
    main()
