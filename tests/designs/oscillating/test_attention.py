"""Every layer's mask against the float64 loop reference, under every accepted attn_implementation, with left and
right padding (outputs and gradients); flex attention's block masks against the SDPA path; and the check that catches
a layer silently staying causal."""

import pytest
import torch
import transformers
from torch.nn.attention.flex_attention import BlockMask

import hf_archs  # noqa: F401
from hf_archs.core import attention, masks
from hf_archs.core.attention import DesignAttention, repeat_kv
from hf_archs.designs.oscillating.design import ANTI_CAUSAL, layer_patterns
from hf_archs.designs.oscillating.naive import attention_naive, oscillating_mask_naive
from hf_archs.registry import zoo_model
from hf_archs.testing import tiny_bert_config, tiny_gemma3_config, tiny_llama_config


BACKBONES = ("llama", "gemma3", "bert")
# Six layers: each pattern twice; on Gemma 3 each pattern once on a sliding layer (window 4) and once on a full one.
CYCLE = ["bidirectional", "forward", "backward"]
GEMMA3_LAYER_TYPES = ["sliding_attention"] * 3 + ["full_attention"] * 3


def oscillating_model(backbone: str, dtype=torch.float64, attn_implementation="eager", hidden_size=32, **settings):
    entry = zoo_model("oscillating", backbone)
    tiny = {"llama": tiny_llama_config, "gemma3": tiny_gemma3_config, "bert": tiny_bert_config}[backbone]
    shape = dict(hidden_size=hidden_size, num_attention_heads=4, num_hidden_layers=6)
    if backbone == "llama":
        shape["num_key_value_heads"] = 2
    if backbone == "gemma3":
        shape["layer_types"] = GEMMA3_LAYER_TYPES
    settings = {"oscillating_layer_attention_patterns": CYCLE, **settings}
    config = entry.backbone.design_config(entry.config_class, tiny(**shape), **settings)
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config, attn_implementation=attn_implementation)
    return model.to(dtype).eval()


def padded_batch(side: str, seed: int = 0, vocab: int = 128):
    generator = torch.Generator().manual_seed(seed)
    lengths = [10, 6, 3]
    input_ids = torch.randint(3, vocab, (len(lengths), max(lengths)), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        if side == "right":
            attention_mask[row, :length] = 1
        else:
            attention_mask[row, -length:] = 1
    return input_ids, attention_mask


def assert_same_outputs_at_real_tokens(model, reference, message: str = "") -> None:
    """Last hidden states of `model` equal `reference`'s at the real tokens of the left- and right-padded batches
    (float32 tolerance), and are finite everywhere."""
    for side in ("left", "right"):
        input_ids, attention_mask = padded_batch(side)
        valid = attention_mask.bool()
        with torch.no_grad():
            expected = reference(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            actual = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        assert torch.isfinite(actual).all(), f"{message} {side}"
        torch.testing.assert_close(actual[valid], expected[valid], atol=1e-5, rtol=1e-5, msg=f"{message} {side}")


def capture_layer_calls(model):
    """(layer, args, kwargs, output) of every attention layer call in the next forward."""
    calls, handles = [], []
    for module in model.modules():
        if isinstance(module, DesignAttention):
            handles.append(
                module.register_forward_hook(
                    lambda m, args, kwargs, output: calls.append((m, args, dict(kwargs), output[0])),
                    with_kwargs=True,
                )
            )
    return calls, handles


def naive_layer(layer, hidden_states, position_embeddings, pattern, padding_mask, sliding_window):
    """The layer's own projections around the float64 loop reference of its masked attention."""
    query, key, value = layer.project_qkv(hidden_states, position_embeddings)
    heads = query.shape[1]
    allowed = oscillating_mask_naive(pattern, padding_mask, sliding_window)
    output = attention_naive(query, repeat_kv(key, heads), repeat_kv(value, heads), allowed, scaling=layer.scaling)
    return layer.project_output(output.transpose(1, 2).reshape(*hidden_states.shape[:-1], -1))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_layer_matches_the_naive_reference(backbone, implementation, side):
    model = oscillating_model(backbone, attn_implementation=implementation)
    accepted = type(model).accepted_attn_implementations(model.config)
    # flex_attention: checked against sdpa below (no float64 and no backward on CPU).
    assert implementation in accepted and set(accepted) == {"eager", "sdpa", "flex_attention"}
    config = model.config
    patterns = layer_patterns(config)
    assert sorted(set(patterns)) == sorted(CYCLE)
    input_ids, padding_mask = padded_batch(side)
    valid = padding_mask.bool()
    calls, handles = capture_layer_calls(model)
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=padding_mask, use_cache=False)
    for handle in handles:
        handle.remove()
    assert len(calls) == config.num_hidden_layers

    weights = torch.randn(*input_ids.shape, config.hidden_size, generator=torch.Generator().manual_seed(1)).double()
    for layer, args, kwargs, output in calls:
        index = layer.layer_idx
        sliding = (
            config.sliding_window
            if backbone == "gemma3" and GEMMA3_LAYER_TYPES[index] == "sliding_attention"
            else None
        )
        hidden = (kwargs.pop("hidden_states") if "hidden_states" in kwargs else args[0]).detach()
        position_embeddings = kwargs.get("position_embeddings")
        message = f"layer {index} ({patterns[index]}, window {sliding}) {implementation} {side} padding"

        expected_input = hidden.clone().requires_grad_()
        expected = naive_layer(layer, expected_input, position_embeddings, patterns[index], padding_mask, sliding)
        torch.testing.assert_close(output[valid], expected[valid].detach(), atol=1e-10, rtol=1e-10, msg=message)

        # Gradients through the layer's real path (its own mask built from the padding keyword) and the reference.
        actual_input = hidden.clone().requires_grad_()
        actual = layer(actual_input, *args[1:], **kwargs)[0]
        (actual[valid] * weights[valid]).sum().backward()
        (expected[valid] * weights[valid]).sum().backward()
        torch.testing.assert_close(actual_input.grad, expected_input.grad, atol=1e-10, rtol=1e-10, msg=message)


# Flex attention compiles per shape and mask function on CPU (~15 s each): the default tier runs it on Llama only.
FLEX_BACKBONES = [pytest.param(b, marks=() if b == "llama" else pytest.mark.slow) for b in BACKBONES]


@pytest.mark.parametrize("backbone", FLEX_BACKBONES)
def test_flex_attention_matches_the_sdpa_path(backbone):
    """Transformers' flex kernel, each layer's pattern a block mask, gives the SDPA path's outputs at every real token
    (float32), with left and right padding; on Gemma 3 each pattern runs once on a sliding layer (window 4, shorter
    than the batch) and once on a full one. Padding queries differ by design: a row with no visible key gets zero
    from flex attention, its own value from the SDPA path's guard."""
    sdpa = oscillating_model(backbone, torch.float32, "sdpa")
    flex = oscillating_model(backbone, torch.float32, "flex_attention")
    assert flex.config._attn_implementation == "flex_attention" and type(flex)._supports_flex_attn
    assert_same_outputs_at_real_tokens(flex, sdpa, backbone)


def recorded_layer_masks(model, monkeypatch, implementation: str, builder: str):
    """{layer index: the mask its attention function got} in one left-padded forward, and the calls of
    `masks.<builder>` (the pattern masks built)."""
    got, built = {}, []
    function = attention._STOCK_PATHS[implementation]
    build = getattr(masks, builder)

    def recording(module, query, key, value, attention_mask, **kwargs):
        got[module.layer_idx] = attention_mask
        return function(module, query, key, value, attention_mask, **kwargs)

    def counting(*args, **kwargs):
        built.append(args[0].name)
        return build(*args, **kwargs)

    monkeypatch.setitem(attention._STOCK_PATHS, implementation, recording)
    monkeypatch.setattr(masks, builder, counting)
    input_ids, attention_mask = padded_batch("left")
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=attention_mask)
    return got, built


@pytest.mark.parametrize(
    ("implementation", "builder"), [("sdpa", "pattern_mask"), ("flex_attention", "pattern_block_mask")]
)
def test_layers_of_one_pattern_share_one_mask_per_forward(monkeypatch, implementation, builder):
    """Six Llama layers, each pattern twice: the bidirectional and the backward mask are built once each and shared;
    the forward layers get the stock mask (Transformers' own, a BlockMask under flex). Under flex no layer gets a
    dense tensor. Before: one mask per layer (four builds)."""
    model = oscillating_model("llama", torch.float32, implementation)
    got, built = recorded_layer_masks(model, monkeypatch, implementation, builder)
    assert sorted(built) == ["backward", "bidirectional"]
    assert got[0] is got[3] and got[2] is got[5] and got[1] is got[4]
    assert len({id(got[0]), id(got[1]), id(got[2])}) == 3
    if implementation == "flex_attention":
        assert all(isinstance(mask, BlockMask) for mask in got.values())


@pytest.mark.slow  # compiles the block mask's construction for its shape (~15 s)
def test_an_anti_causal_block_mask_skips_the_blocks_below_the_diagonal():
    """Three 128-token blocks: the backward pattern keeps the diagonal and upper blocks only (no L × L tensor)."""
    block_mask = masks.pattern_block_mask(
        ANTI_CAUSAL, None, batch_size=1, query_length=384, key_length=384, sliding_window=None, device="cpu"
    )
    blocks = block_mask.to_dense()[0, 0].bool()
    assert torch.equal(blocks, torch.ones(3, 3, dtype=torch.bool).triu())


def _first_layer_sees(model, attention_mask_kind: str) -> dict[str, bool]:
    """Does layer 0's output at the first position change when the last token changes (sees the future), and at the
    last position when the first token changes (sees the past)? attention_mask_kind: none / ones / padded."""
    # 4 tokens: within the window of Gemma 3's sliding layer 0, so the window itself hides nothing.
    input_ids = torch.randint(3, 128, (2, 4), generator=torch.Generator().manual_seed(3))
    attention_mask = {"none": None, "ones": torch.ones_like(input_ids)}.get(attention_mask_kind)
    if attention_mask_kind == "padded":  # right padding on row 1; rows are compared on row 0 (full length)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[1, -2:] = 0

    def first_layer(ids):
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False)
        return out.hidden_states[1][0]

    reference = first_layer(input_ids)
    future, past = input_ids.clone(), input_ids.clone()
    future[:, -1] = (future[:, -1] + 1) % 128
    past[:, 0] = (past[:, 0] + 1) % 128
    return {
        "future": not torch.allclose(first_layer(future)[0], reference[0], atol=1e-6),
        "past": not torch.allclose(first_layer(past)[-1], reference[-1], atol=1e-6),
    }


EXPECTED_SIGHT = {
    "bidirectional": {"future": True, "past": True},
    "forward": {"future": False, "past": True},
    "backward": {"future": True, "past": False},
}


@pytest.mark.parametrize("mask_kind", ["none", "ones", "padded"])
@pytest.mark.parametrize("implementation", ["eager", "sdpa", pytest.param("flex_attention", marks=pytest.mark.slow)])
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("pattern", CYCLE)
def test_first_layer_sees_what_its_pattern_allows(pattern, backbone, implementation, mask_kind):
    """Bug class of LLM2Vec-style conversions: with no mask, SDPA falls back to the layer's is_causal=True, so a
    'bidirectional' decoder layer silently stays causal (and an anti-causal one becomes causal). Checked with no
    attention mask, an all-ones one and a padded batch, on every backbone and attention path."""
    model = oscillating_model(backbone, torch.float32, implementation, oscillating_layer_overrides={0: pattern})
    assert _first_layer_sees(model, mask_kind) == EXPECTED_SIGHT[pattern]


def test_the_sight_check_catches_a_layer_that_keeps_the_stock_causal_mask(monkeypatch):
    """The check above fails on the bug it is written for: layers that keep the decoder's mask and is_causal."""
    model = oscillating_model("llama", torch.float32, "sdpa", oscillating_layer_overrides={0: "bidirectional"})
    monkeypatch.setattr(masks, "keeps_stock_mask", lambda layer: True)
    for module in model.modules():
        if getattr(module, "mask_pattern", None) is not None:
            module.is_causal = module.stock_is_causal
    assert _first_layer_sees(model, "none") != EXPECTED_SIGHT["bidirectional"]
