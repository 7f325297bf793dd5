"""The GGUF build refuses a tokenizer whose conversion lost its merges (transformers 5.17 turns Gemma 3's GGUF
tokenizer into a character-level one; the weights are converted right, so nothing else would notice)."""

import pytest

from hf_archs.conversion.gguf import _TOKENIZER_PROBE, check_subword_tokenizer


class WordTokenizer:
    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": list(range(len(text.split())))}


class CharacterTokenizer:
    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [ord(c) for c in text]}


def test_a_subword_tokenizer_passes():
    check_subword_tokenizer(WordTokenizer())


def test_a_character_level_tokenizer_is_refused_with_the_transformers_version():
    with pytest.raises(ValueError, match=rf"{len(_TOKENIZER_PROBE)} characters .* transformers \d"):
        check_subword_tokenizer(CharacterTokenizer())


def test_the_real_gemma_tokenizer_built_here_passes():
    transformers = pytest.importorskip("transformers")
    from hf_archs.conversion.gguf import default_cache_dir

    folder = default_cache_dir() / "gemma-3-270m"
    if not (folder / "tokenizer.json").exists():
        pytest.skip("the Gemma-3-270m folder is not built on this machine")
    check_subword_tokenizer(transformers.AutoTokenizer.from_pretrained(folder))
