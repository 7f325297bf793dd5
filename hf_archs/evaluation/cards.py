"""Generated parts of model cards, between markers: result tables and each card's Math section.

<!-- hf-archs:results NAME -->
... generated, never edited by hand ...
<!-- /hf-archs:results NAME -->

<!-- hf-archs:math MODEL_TYPE -->
... the model type's math (`ZooModel.math`, from each design's `Design.math`), never edited by hand ...
<!-- /hf-archs:math MODEL_TYPE -->
"""

from __future__ import annotations

import os
import re
from pathlib import Path


# What a card's markers hold: result tables (named by the result) or the math (named by the card's model type).
KINDS = ("results", "math")


class CardMarkerError(ValueError):
    """The card lacks (or has broken) markers for a name."""


def markers(name: str, kind: str = "results") -> tuple[str, str]:
    if kind not in KINDS:
        raise ValueError(f"marker kind {kind!r} must be one of {KINDS}")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"{kind} name {name!r} must use letters, digits, '_', '.', '-' only")
    return f"<!-- hf-archs:{kind} {name} -->", f"<!-- /hf-archs:{kind} {name} -->"


def replace_between_markers(text: str, name: str, markdown: str, kind: str = "results") -> str:
    begin, end = markers(name, kind)
    if text.count(begin) != 1 or text.count(end) != 1:
        raise CardMarkerError(
            f"expected exactly one {begin!r} and one {end!r} in the card (found {text.count(begin)} and "
            f"{text.count(end)}); add the two marker lines where the generated part belongs."
        )
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        raise CardMarkerError(f"{end!r} comes before {begin!r} in the card.")
    return text[:start] + "\n" + markdown.strip("\n") + "\n" + text[stop:]


def update_card(card_path: str | Path, name: str, markdown: str, kind: str = "results") -> bool:
    """Replace what lies between the `name` markers (of `kind`) of a model card with `markdown`.

    Idempotent: writing the same markdown twice leaves the file byte-identical. Returns whether the file changed.
    Raises `CardMarkerError` (a ValueError) when the card has no markers (or more than one pair) for `name`.
    """
    path = Path(card_path)
    text = path.read_text()
    new = replace_between_markers(text, name, markdown, kind)
    if new == text:
        return False
    path.write_text(new)
    return True


def plot_link(plot: str | Path, card: str | Path, alt: str) -> str:
    """Markdown of a stored plot shown in a card: a link relative to the card, so the plot is kept once."""
    return f"![{alt}]({Path(os.path.relpath(plot, Path(card).parent)).as_posix()})"


def refresh_cards(results_dir: str | Path = "results", cards_dir: str | Path = "model_cards") -> list[str]:
    """Regenerate every card table from the stored comparisons: each `results/<name>/<run>/comparison.md` goes
    between the `<name>` markers of the cards that have them, with a link to its plot (relative to the card, not a
    copy). Returns "card: name" for each table written."""
    written = []
    cards = sorted(Path(cards_dir).glob("*.md"))
    for comparison in sorted(Path(results_dir).glob("*/*/comparison.md")):
        name = comparison.parent.parent.name
        begin, _ = markers(name)
        for card in cards:
            if begin not in card.read_text():
                continue
            markdown = comparison.read_text().strip()
            plot = comparison.with_name("comparison.png")
            if plot.exists():
                markdown += "\n\n" + plot_link(plot, card, name)
            update_card(card, name, markdown)
            written.append(f"{card.name}: {name}")
    return written


def refresh_math(cards_dir: str | Path = "model_cards") -> list[str]:
    """Regenerate the Math section of every card named after a model type (`<model_type>.md`) from that model type's
    `ZooModel.math` (its designs' `Design.math`, the one place the math is written), between its
    `hf-archs:math <model_type>` markers. Returns the names of the cards that changed; raises `CardMarkerError` for a
    model type's card without the markers."""
    from ..registry import ZOO

    math_of = {entry.model_type: entry.math for entry in ZOO}
    return [
        card.name
        for card in sorted(Path(cards_dir).glob("*.md"))
        if card.stem in math_of and update_card(card, card.stem, math_of[card.stem], kind="math")
    ]
