"""Picture of the masks the oscillating layers build: one panel per layer, for a decoder/encoder without windows and
for Gemma 3's sliding/full layer layout.

    python -m benchmarks.oscillating.plot --out model_cards/images/oscillating_patterns.png

The panels are drawn from `core.masks.pattern_mask`, the function the layers themselves call, on one right-padded
sequence. Not imported by the models (matplotlib is needed only here).
"""

import argparse
from pathlib import Path

import torch

from hf_archs.core.masks import pattern_mask
from hf_archs.designs.oscillating.design import DEFAULT_CYCLE, PATTERNS


def layer_masks_for_plot(patterns, layer_types, *, length: int, padding: int, window: int) -> list[torch.Tensor]:
    """(length, length) boolean masks of one sequence whose last `padding` tokens are padding, one per layer."""
    padding_mask = torch.ones(1, length, dtype=torch.long)
    padding_mask[0, length - padding :] = 0
    masks = []
    for layer, layer_type in enumerate(layer_types):
        pattern = PATTERNS[patterns[layer % len(patterns)]]
        sliding = window if layer_type == "sliding_attention" else None
        mask = pattern_mask(
            pattern,
            padding_mask,
            batch_size=1,
            query_length=length,
            key_length=length,
            sliding_window=sliding,
            device="cpu",
        )
        masks.append(mask[0, 0])
    return masks


def plot(out: Path, *, layers: int = 6, length: int = 10, padding: int = 2, window: int = 4) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = {
        "Llama, BERT": ["full_attention"] * layers,
        f"Gemma 3 (window {window})": (["sliding_attention"] * 5 + ["full_attention"])[:layers],
    }
    figure, axes = plt.subplots(len(rows), layers, figsize=(2.0 * layers, 2.9 * len(rows)), squeeze=False)
    for row, (title, layer_types) in enumerate(rows.items()):
        masks = layer_masks_for_plot(list(DEFAULT_CYCLE), layer_types, length=length, padding=padding, window=window)
        for layer, mask in enumerate(masks):
            axis = axes[row][layer]
            axis.imshow(mask.numpy(), cmap="Blues", vmin=0, vmax=1.4)
            name = DEFAULT_CYCLE[layer % len(DEFAULT_CYCLE)]
            kind = "sliding" if layer_types[layer] == "sliding_attention" else "full"
            axis.set_title(f"layer {layer}: {name}\n({kind})", fontsize=8)
            axis.set_xticks([])
            axis.set_yticks([])
            if layer == 0:
                axis.set_ylabel(f"{title}\nquery i", fontsize=7)
            axis.set_xlabel("key j", fontsize=7)
    figure.suptitle(
        f"Oscillating attention, default cycle: what query i may see (blue); {length} tokens, the last {padding} "
        "padding (padding queries attend to themselves)",
        fontsize=9,
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("model_cards/images/oscillating_patterns.png"))
    args = parser.parse_args(argv)
    print(plot(args.out))


if __name__ == "__main__":
    main()
