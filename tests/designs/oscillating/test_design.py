"""The oscillating design's fields, its masks against stock models that build the same masks themselves, and what
decoding means for it."""

import pytest
import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.core.masks import LayerMaskError
from hf_archs.designs.oscillating.design import layer_patterns
from hf_archs.designs.oscillating.naive import oscillating_mask_naive
from hf_archs.registry import ZOO, zoo_model
from hf_archs.testing import tiny_bert_config, tiny_gemma3_config, tiny_llama_config
from tests.designs.oscillating.test_attention import (
    assert_same_outputs_at_real_tokens,
    oscillating_model,
    padded_batch,
)


OSCILLATING_ENTRIES = [entry for entry in ZOO if entry.design_name == "oscillating"]


# fields -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", OSCILLATING_ENTRIES, ids=lambda e: e.model_type)
def test_default_cycle_and_overrides(entry):
    config = entry.config_class(num_hidden_layers=7, oscillating_layer_overrides={"4": "forward", 6: "bidirectional"})
    assert layer_patterns(config) == [
        "bidirectional",
        "forward",
        "backward",
        "bidirectional",
        "forward",  # overridden
        "backward",
        "bidirectional",  # overridden (int key)
    ]
    # After a JSON round trip the override keys are strings: the same patterns come back.
    again = entry.config_class.from_dict(config.to_dict())
    assert layer_patterns(again) == layer_patterns(config)


@pytest.mark.parametrize("entry", OSCILLATING_ENTRIES, ids=lambda e: e.model_type)
@pytest.mark.parametrize(
    "settings, message",
    [
        ({"oscillating_layer_attention_patterns": ["sideways"]}, "unknown patterns"),
        ({"oscillating_layer_attention_patterns": []}, "non-empty"),
        ({"oscillating_layer_attention_patterns": "forward"}, "list"),
        ({"oscillating_layer_overrides": {5: "forward"}}, "layer index"),
        ({"oscillating_layer_overrides": {0: "up"}}, "unknown patterns"),
    ],
)
def test_bad_patterns_are_refused(entry, settings, message):
    with pytest.raises(Exception, match=message):
        entry.config_class(num_hidden_layers=2, **settings)


# masks against stock models building the same mask ---------------------------------------------------------------
def _stock_with_design_weights(design, stock_config, stock_class, implementation):
    stock = stock_class._from_config(stock_config, attn_implementation=implementation).eval()
    stock.load_state_dict(design.state_dict())
    return stock


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_all_bidirectional_gemma3_is_stock_gemma3_with_bidirectional_attention(implementation):
    """The layers build their own masks here (bidirectional is not a decoder's own pattern); stock Gemma 3 builds the
    same function itself with `use_bidirectional_attention=True`: |i - j| < window on sliding layers, padding both
    sides."""
    design = oscillating_model(
        "gemma3", torch.float32, implementation, oscillating_layer_attention_patterns=["bidirectional"]
    )
    stock_config = tiny_gemma3_config(
        hidden_size=32, num_attention_heads=4, num_hidden_layers=6, layer_types=design.config.layer_types
    )
    stock_config.use_bidirectional_attention = True
    stock = _stock_with_design_weights(design, stock_config, transformers.Gemma3TextModel, implementation)
    assert_same_outputs_at_real_tokens(design, stock)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_all_forward_bert_is_stock_bert_as_a_decoder(implementation):
    """Forward is not BERT's own pattern: the layers build causal ∧ padding masks, as stock BERT with is_decoder."""
    design = oscillating_model("bert", torch.float32, implementation, oscillating_layer_attention_patterns=["forward"])
    stock_config = tiny_bert_config(hidden_size=32, num_attention_heads=4, num_hidden_layers=6, is_decoder=True)
    stock = _stock_with_design_weights(design, stock_config, transformers.BertModel, implementation)
    for side in ("left", "right"):
        input_ids, attention_mask = padded_batch(side)
        valid = attention_mask.bool()
        with torch.no_grad():
            expected = stock(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
            actual = design(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        torch.testing.assert_close(actual[valid], expected[valid], atol=1e-5, rtol=1e-5, msg=side)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("pattern", ["bidirectional", "backward"])
def test_llama_patterns_equal_stock_llama_given_the_same_4d_mask(pattern, implementation):
    """Stock Llama takes a prepared 4D mask as is: given the reference mask of a pattern, it computes what the
    oscillating Llama computes with that pattern in every layer."""
    design = oscillating_model("llama", torch.float32, implementation, oscillating_layer_attention_patterns=[pattern])
    stock_config = tiny_llama_config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=6)
    stock = _stock_with_design_weights(design, stock_config, transformers.LlamaModel, implementation)
    for side in ("left", "right"):
        input_ids, attention_mask = padded_batch(side)
        valid = attention_mask.bool()
        mask_4d = oscillating_mask_naive(pattern, attention_mask)[:, None]
        if implementation == "eager":
            mask_4d = torch.zeros(mask_4d.shape).masked_fill(~mask_4d, torch.finfo(torch.float32).min)
        with torch.no_grad():
            expected = stock(input_ids=input_ids, attention_mask=mask_4d, use_cache=False).last_hidden_state
            actual = design(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        torch.testing.assert_close(actual[valid], expected[valid], atol=1e-5, rtol=1e-5, msg=side)


def test_a_4d_mask_is_refused_by_layers_that_build_their_own():
    model = oscillating_model("llama", torch.float32)
    input_ids, attention_mask = padded_batch("right")
    with pytest.raises(LayerMaskError, match=r"Layer 0 \(bidirectional attention\).*2D padding mask"):
        model(input_ids=input_ids, attention_mask=attention_mask[:, None, None, :].bool())


# decoding -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backbone", ["llama", "gemma3"])
def test_generate_refuses_a_kv_cache_naming_the_non_causal_layers(backbone):
    entry = zoo_model("oscillating", backbone)
    model = oscillating_model(backbone, torch.float32)
    lm = entry.model_classes["AutoModelForCausalLM"]._from_config(model.config).eval()
    input_ids, attention_mask = padded_batch("left")
    with pytest.raises(ValueError, match=r"layers 0 \(bidirectional\), 2 \(backward\), 3 \(bidirectional\), 5 \("):
        lm.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=2)
    # A forward pass that extends a cache is refused by the first non-causal layer, not silently wrong.
    with torch.no_grad():
        cache = lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=True).past_key_values
        with pytest.raises(LayerMaskError, match=r"Layer 0 \(bidirectional attention\) cannot extend a KV cache"):
            lm(
                input_ids=input_ids[:, -1:],
                attention_mask=torch.cat([attention_mask, attention_mask[:, -1:]], dim=1),
                past_key_values=cache,
            )


@pytest.mark.parametrize("backbone", ["llama", "gemma3"])
def test_all_forward_decoder_generates_with_a_cache_like_stock(backbone):
    """The identity setting keeps every decoder layer on the stock mask: cached generation works and equals stock."""
    entry = zoo_model("oscillating", backbone)
    design_base = oscillating_model(backbone, torch.float32, oscillating_layer_attention_patterns=["forward"])
    lm = entry.model_classes["AutoModelForCausalLM"]._from_config(design_base.config).eval()
    stock_class = entry.backbone.stock_classes["AutoModelForCausalLM"]
    stock_config = entry.backbone.stock_classes["AutoModel"].config_class(
        **{k: v for k, v in lm.config.to_dict().items() if not k.startswith("oscillating_") and k != "model_type"}
    )
    stock = stock_class._from_config(stock_config).eval()
    stock.load_state_dict(lm.state_dict())
    assert lm.layers_that_cannot_decode() == []
    input_ids, attention_mask = padded_batch("left")
    kwargs = dict(attention_mask=attention_mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
    lm.generation_config.eos_token_id = stock.generation_config.eos_token_id = None
    assert torch.equal(lm.generate(input_ids, **kwargs), stock.generate(input_ids, **kwargs))
