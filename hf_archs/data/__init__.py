"""Small real datasets shipped with `hf_archs` (package data, available offline after `pip install`)."""

from .wordnet import load_wordnet, read_entries, wordnet_texts


__all__ = ["load_wordnet", "read_entries", "wordnet_texts"]
