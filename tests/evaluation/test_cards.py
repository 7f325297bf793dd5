"""Generated parts of model cards (result tables, the Math sections): replaced between markers, idempotently; cards
without markers are refused."""

from pathlib import Path

import pytest

from hf_archs.evaluation import CardMarkerError, update_card
from hf_archs.evaluation.cards import markers


CARD = """# a card

Intro, written by hand.

<!-- hf-archs:results minilm -->
old numbers
<!-- /hf-archs:results minilm -->

<!-- hf-archs:results other -->
keep me
<!-- /hf-archs:results other -->

Outro.
"""


def test_update_card_replaces_only_its_block_and_is_idempotent(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CARD)
    table = "| metric | value |\n| --- | --- |\n| mrr | 0.5 |\n\nReproduce: `hf-archs compare ...`\n"
    assert update_card(card, "minilm", table) is True
    once = card.read_text()
    assert "old numbers" not in once and "| mrr | 0.5 |" in once
    assert "keep me" in once and once.startswith("# a card\n\nIntro, written by hand.") and once.endswith("Outro.\n")
    assert update_card(card, "minilm", table) is False
    assert card.read_text() == once  # byte-identical on a rerun
    assert update_card(card, "minilm", "new") is True and "| mrr |" not in card.read_text()


def test_card_without_markers_is_refused_with_a_clear_error(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("# a card without markers\n")
    with pytest.raises(CardMarkerError, match=r"<!-- hf-archs:results minilm -->"):
        update_card(card, "minilm", "table")
    assert card.read_text() == "# a card without markers\n"


def test_duplicated_or_reversed_markers_are_refused(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CARD + "<!-- hf-archs:results minilm -->\n")
    with pytest.raises(CardMarkerError, match="exactly one"):
        update_card(card, "minilm", "table")
    card.write_text("<!-- /hf-archs:results x -->\n<!-- hf-archs:results x -->\n")
    with pytest.raises(CardMarkerError, match="before"):
        update_card(card, "x", "table")


def test_marker_names_are_restricted(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CARD)
    with pytest.raises(ValueError, match="letters"):
        update_card(card, "bad name -->", "table")


def test_refresh_cards_regenerates_tables_from_stored_comparisons(tmp_path):
    from hf_archs.evaluation.cards import refresh_cards

    run = tmp_path / "results" / "toy-semantic" / "retrieval-ci-abc"
    run.mkdir(parents=True)
    (run / "comparison.md").write_text("| metric | stock | design |\n| mrr | 0.5 | 0.6 |\n")
    (run / "comparison.png").write_bytes(b"\x89PNG fake")
    cards = tmp_path / "cards"
    cards.mkdir()
    card = cards / "toy.md"
    card.write_text(
        "# toy\n<!-- hf-archs:results toy-semantic -->\nold numbers\n<!-- /hf-archs:results toy-semantic -->\n"
    )
    (cards / "other.md").write_text("# other card, no markers\n")
    assert refresh_cards(tmp_path / "results", cards) == ["toy.md: toy-semantic"]
    text = card.read_text()
    assert "old numbers" not in text and "| mrr | 0.5 | 0.6 |" in text
    # The card links the stored plot (relative to the card) instead of keeping a copy.
    assert "![toy-semantic](../results/toy-semantic/retrieval-ci-abc/comparison.png)" in text
    assert not (cards / "images").exists()
    assert refresh_cards(tmp_path / "results", cards) == ["toy.md: toy-semantic"] and card.read_text() == text


CARDS = Path(__file__).resolve().parents[2] / "model_cards"


def _math_section(text: str, model_type: str) -> str:
    begin, end = markers(model_type, kind="math")
    return text[text.index(begin) + len(begin) : text.index(end)].strip("\n")


def test_every_card_math_is_its_model_type_math():
    """The Math section of `model_cards/<model_type>.md` is generated from `Design.math` (`ZooModel.math`); a hand
    edit between the markers fails here. Regenerate with `hf-archs leaderboard --cards model_cards`."""
    from hf_archs.registry import zoo_model_for_type

    cards = sorted(CARDS.glob("*.md"))
    assert cards
    for card in cards:
        entry = zoo_model_for_type(card.stem)  # every card is named after its model type
        assert _math_section(card.read_text(), card.stem) == entry.math, f"{card.name}: math edited by hand"


def test_refresh_math_regenerates_only_the_math_and_is_idempotent(tmp_path):
    from hf_archs.evaluation.cards import refresh_math

    for card in CARDS.glob("*.md"):
        (tmp_path / card.name).write_text(card.read_text())
    (tmp_path / "notes.md").write_text("# not a model type's card\n")
    assert refresh_math(tmp_path) == []  # the committed cards are up to date
    card = tmp_path / "semantic_bert.md"
    committed = card.read_text()
    card.write_text(committed.replace("tau = 0", "tau = 1", 1))
    assert refresh_math(tmp_path) == ["semantic_bert.md"] and card.read_text() == committed
    assert refresh_math(tmp_path) == [] and card.read_text() == committed
    card.write_text("# semantic_bert without math markers\n")
    with pytest.raises(CardMarkerError, match="hf-archs:math semantic_bert"):
        refresh_math(tmp_path)


def test_math_and_result_markers_are_distinct(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CARD + "<!-- hf-archs:math minilm -->\nold math\n<!-- /hf-archs:math minilm -->\n")
    assert update_card(card, "minilm", "new math", kind="math") is True
    text = card.read_text()
    assert "old numbers" in text and "old math" not in text and "new math" in text
    with pytest.raises(ValueError, match="kind"):
        update_card(card, "minilm", "x", kind="plots")
