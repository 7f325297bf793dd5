"""The shipped WordNet corpus: loads offline, honest splits, small, licensed."""

from importlib import resources

import pytest

from hf_archs.data import load_wordnet, wordnet_texts
from hf_archs.data.wordnet import SPLITS


WORDNET_DIR = resources.files("hf_archs.data") / "wordnet"
COLUMNS = ["word", "lemmas", "pos", "definition", "examples"]


@pytest.fixture(scope="module")
def splits():
    return {split: load_wordnet(split) for split in SPLITS}


def test_splits_load_with_expected_columns_and_sizes(splits):
    for split, dataset in splits.items():
        assert dataset.column_names == COLUMNS, split
    assert len(splits["train"]) > 20_000
    assert 2_000 < len(splits["validation"]) < 5_000
    assert 2_000 < len(splits["test"]) < 5_000


def test_entries_are_well_formed(splits):
    entry = splits["train"][0]
    assert entry["word"] == entry["lemmas"][0]
    for dataset in splits.values():
        assert set(dataset["pos"]) <= {"noun", "verb", "adj", "adv"}
        assert all(dataset["definition"])
        # Examples are split off the gloss; the few quotes left are usage notes such as `in the phrase "..."`.
        assert sum('"' in definition for definition in dataset["definition"]) < 0.001 * len(dataset)
        assert all("_" not in word for word in dataset["word"])
    # The subset prefers entries with example sentences.
    assert sum(bool(examples) for examples in splits["train"]["examples"]) > 0.9 * len(splits["train"])


def test_no_word_in_two_splits(splits):
    words = {split: {word.lower() for word in dataset["word"]} for split, dataset in splits.items()}
    assert not words["train"] & words["validation"]
    assert not words["train"] & words["test"]
    assert not words["validation"] & words["test"]


def test_limit_takes_a_fixed_prefix(splits):
    head = load_wordnet("test", limit=5)
    assert len(head) == 5
    assert head["word"] == splits["test"]["word"][:5]
    assert len(load_wordnet("test", limit=0)) == 0


def test_bad_split_or_limit_raises():
    with pytest.raises(ValueError, match="split"):
        load_wordnet("dev")
    with pytest.raises(ValueError, match="limit"):
        load_wordnet("train", limit=-1)


def test_wordnet_texts_are_plain_sentences():
    texts = wordnet_texts("validation", limit=20)
    entries = load_wordnet("validation", limit=20)
    assert len(texts) == 20
    for text, entry in zip(texts, entries, strict=True):
        assert text.startswith(f"{entry['word']}: {entry['definition']}")
        assert text.endswith((".", "!", "?"))
        for example in entry["examples"]:
            assert example in text


def test_licence_and_readme_ship_and_data_is_small():
    licence = (WORDNET_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in licence
    assert "Permission to use, copy, modify and distribute" in licence
    assert "build_wordnet_corpus.py" in (WORDNET_DIR / "README.md").read_text(encoding="utf-8")
    total = sum(len((WORDNET_DIR / f"{split}.jsonl.gz").read_bytes()) for split in SPLITS)
    assert total < 3_000_000
