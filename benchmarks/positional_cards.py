"""Write the measured sections of the positional model cards from the stored results: the extrapolation tables
(`results/positional-<backbone>[-<run>]/extrapolation.md`) and the cost tables (`cost.md`) go between the card's
`positional-<backbone>[-<run>]-extrapolation` / `positional-<backbone>-cost` markers (rewrite a stored folder's tables
first with `python benchmarks/positional_extrapolation.py --render <folder>`).

    python benchmarks/positional_cards.py
"""

from pathlib import Path

from hf_archs.evaluation.cards import plot_link, update_card


CARDS = {"llama": "model_cards/positional_llama.md", "bert": "model_cards/positional_bert.md"}
# Further stored runs shown in a card: (backbone, run suffix); their plot lives beside their tables (linked, not
# copied).
EXTRA_RUNS = (("bert", "8000-steps"),)


def _write(card: str, marker: str, source: Path, image: Path | None, alt: str) -> None:
    markdown = source.read_text().strip()
    if image is not None and image.exists():
        markdown += "\n\n" + plot_link(image, card, alt)
    update_card(card, marker, markdown)
    print(f"{card}: {marker}")


def main():
    for backbone, card in CARDS.items():
        results = Path(f"results/positional-{backbone}")
        plot = Path(f"model_cards/images/positional_{backbone}_extrapolation.png")
        for part, image in (("extrapolation", plot), ("cost", None)):
            source = results / f"{part}.md"
            if source.exists() and Path(card).exists():
                _write(card, f"positional-{backbone}-{part}", source, image, f"positional_{backbone} extrapolation")
    for backbone, run in EXTRA_RUNS:
        results = Path(f"results/positional-{backbone}-{run}")
        alt = f"positional_{backbone} extrapolation, {run.replace('-', ' ')}"
        marker = f"positional-{backbone}-extrapolation-{run}"
        _write(CARDS[backbone], marker, results / "extrapolation.md", results / "extrapolation.png", alt)


if __name__ == "__main__":
    main()
