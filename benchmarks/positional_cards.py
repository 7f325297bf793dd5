"""Write the measured sections of the positional model cards from the stored results: the extrapolation tables
(`results/positional-<backbone>/extrapolation.md`) and the cost tables (`cost.md`) go between the card's
`positional-<backbone>-extrapolation` and `positional-<backbone>-cost` markers.

    python benchmarks/positional_cards.py
"""

from pathlib import Path

from hf_archs.evaluation.cards import update_card


CARDS = {"llama": "model_cards/positional_llama.md", "bert": "model_cards/positional_bert.md"}


def main():
    for backbone, card in CARDS.items():
        results = Path(f"results/positional-{backbone}")
        for part, image in (("extrapolation", f"positional_{backbone}_extrapolation.png"), ("cost", None)):
            source = results / f"{part}.md"
            if not source.exists() or not Path(card).exists():
                continue
            markdown = source.read_text().strip()
            if image and (Path("model_cards/images") / image).exists():
                markdown += f"\n\n![positional_{backbone} extrapolation](images/{image})"
            update_card(card, f"positional-{backbone}-{part}", markdown)
            print(f"{card}: positional-{backbone}-{part}")


if __name__ == "__main__":
    main()
