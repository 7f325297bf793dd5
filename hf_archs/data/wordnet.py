"""Loader for the WordNet 3.0 definitions corpus shipped with `hf_archs` (see `wordnet/README.md`)."""

from __future__ import annotations

import gzip
import json
from importlib import resources

from datasets import Dataset, Features, Sequence, Value


SPLITS = ("train", "validation", "test")
WORDNET_FEATURES = Features(
    {
        "word": Value("string"),
        "lemmas": Sequence(Value("string")),
        "pos": Value("string"),
        "definition": Value("string"),
        "examples": Sequence(Value("string")),
    }
)


def _split_file(split: str):
    if split not in SPLITS:
        raise ValueError(f"Unknown WordNet split {split!r}; expected one of {', '.join(SPLITS)}.")
    # importlib.resources finds the file in a source checkout and after `pip install` alike.
    return resources.files(__package__).joinpath("wordnet", f"{split}.jsonl.gz")


def read_entries(split: str, limit: int | None = None) -> list[dict]:
    """The raw entries of a split (dicts with the `WORDNET_FEATURES` keys), the first `limit` of them."""
    if limit is not None and limit < 0:
        raise ValueError(f"`limit` must be a non-negative integer or None, got {limit}.")
    entries = []
    with _split_file(split).open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(entries) >= limit:
                break
            entries.append(json.loads(line))
    return entries


def load_wordnet(split: str = "train", limit: int | None = None) -> Dataset:
    """Load a split of the WordNet corpus as a `datasets.Dataset`.

    Args:
        split: `"train"`, `"validation"` or `"test"`. No word appears in two splits.
        limit: keep only the first `limit` entries. Splits are stored in a seeded random order, so this is a
            random (but fixed) sample of the split.

    Returns:
        A dataset with columns `word`, `lemmas`, `pos`, `definition` and `examples`.
    """
    entries = read_entries(split, limit)
    # Column-wise, so that an empty selection (limit=0) keeps its columns.
    return Dataset.from_dict(
        {name: [e[name] for e in entries] for name in WORDNET_FEATURES}, features=WORDNET_FEATURES
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def format_entry(entry: dict) -> str:
    """One entry as plain English: `word: definition. Example sentence. Another one.`"""
    return " ".join([_sentence(f"{entry['word']}: {entry['definition']}")] + [_sentence(e) for e in entry["examples"]])


def wordnet_texts(split: str = "train", limit: int | None = None) -> list[str]:
    """Plain-text sentences of a WordNet split for language modelling, one string per entry.

    Example: `"fortify: add nutrients to. fortified milk."`
    """
    return [format_entry(entry) for entry in read_entries(split, limit)]
