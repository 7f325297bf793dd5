"""Cache layers that a layer extension adds to the model's KV cache (`core.layers.ensure_cache_layer`)."""

import pytest
from transformers import DynamicCache, Gemma3TextConfig

from hf_archs.core.layers import ensure_cache_layer


def sliding_cache():
    layer_types = ["sliding_attention", "full_attention"]
    config = Gemma3TextConfig(num_hidden_layers=2, layer_types=layer_types, sliding_window=4)
    return DynamicCache(config=config)


@pytest.mark.parametrize("like", [0, 1])
def test_added_layers_are_of_the_same_kind(like):
    cache = sliding_cache()
    ensure_cache_layer(cache, 3, like=like)
    assert len(cache.layers) == 4
    for added in cache.layers[2:]:
        assert type(added) is type(cache.layers[like])
        assert getattr(added, "sliding_window", None) == getattr(cache.layers[like], "sliding_window", None)


def test_added_layers_record_the_past_when_the_cache_does():
    """Bug: assisted decoding turns on past recording before the extension's layers exist; a layer added afterwards
    did not record, and the cache's crop then raised on it (multi-scale Gemma 3 with sliding windows)."""
    cache = sliding_cache()
    if not hasattr(cache.layers[0], "activate_past_recording"):
        pytest.skip("this Transformers release has no past recording")
    cache.activate_past_recording()
    ensure_cache_layer(cache, 3, like=0)
    assert cache.layers[2].record_past and cache.layers[3].record_past
