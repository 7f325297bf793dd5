"""Building the dictionary table from WordNet: which tokens get which entries, and the table's rows."""

import pytest
import torch
from transformers import AutoTokenizer

from hf_archs.data.wordnet import read_entries
from hf_archs.designs.dictionary.table import build_dictionary_table, entry_text, install_table, lemma_token_entries


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return AutoTokenizer.from_pretrained(minilm_dir)


def test_tokens_get_the_entries_of_the_lemma_they_are_or_start(tokenizer):
    entries = [
        {"word": "dog", "lemmas": ["dog", "domestic dog"], "definition": "a canine", "examples": []},
        {"word": "dog", "lemmas": ["dog"], "definition": "to follow", "examples": []},
        {"word": "photosynthesis", "lemmas": ["photosynthesis"], "definition": "light to sugar", "examples": []},
    ]
    table = lemma_token_entries(tokenizer, entries)
    dog = tokenizer("dog", add_special_tokens=False)["input_ids"]
    assert len(dog) == 1 and table[dog[0]] == [0, 1]  # "dog" is the lemma; "domestic dog" does not start with it
    first = tokenizer("photosynthesis", add_special_tokens=False)["input_ids"][0]
    assert table[first] == [2]  # the first piece of a lemma it starts
    domestic = tokenizer("domestic", add_special_tokens=False)["input_ids"]
    assert table[domestic[0]] == [0]


def test_rows_are_normalized_means_of_the_entries_and_zero_elsewhere(tokenizer):
    vectors = {}

    def encode(texts):  # a fake encoder: a fixed random vector per text
        return torch.stack(
            [
                vectors.setdefault(t, torch.randn(6, generator=torch.Generator().manual_seed(len(vectors))))
                for t in texts
            ]
        )

    table, summary = build_dictionary_table(tokenizer, encode, tokenizer.vocab_size, splits=("test",), limit=50)
    entries = read_entries("test", 50)
    token_entries = lemma_token_entries(tokenizer, entries)
    token, indices = next(iter(token_entries.items()))
    mean = torch.stack([vectors[entry_text(entries[i])] for i in indices]).mean(0)
    torch.testing.assert_close(table[token], mean / mean.norm())
    covered = table.abs().sum(-1) > 0
    assert covered.sum() == summary["tokens_covered"] == len(token_entries)
    assert not covered[tokenizer.cls_token_id]


def test_install_table_checks_the_shape():
    from types import SimpleNamespace

    buffer = torch.zeros(4, 3)
    model = SimpleNamespace(
        base_model=SimpleNamespace(dictionary_table=SimpleNamespace(table=buffer)), config=SimpleNamespace()
    )
    install_table(model, torch.ones(4, 3), "wordnet:test")
    assert buffer.sum() == 12 and model.config.dictionary_table_source == "wordnet:test"
    with pytest.raises(ValueError, match="table"):
        install_table(model, torch.ones(5, 3), "x")
