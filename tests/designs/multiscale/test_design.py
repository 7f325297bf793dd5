"""Multi-scale layers: one layer against the float64 reference (outputs and gradients), identity, recorded outputs,
the branches' KV-cache layers, the attention implementation they follow, and the fields' validation."""

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM
from transformers.models.llama.modeling_llama import LlamaRMSNorm

import hf_archs  # noqa: F401
from hf_archs import MultiscaleBertConfig, MultiscaleGemma3TextConfig, MultiscaleLlamaConfig
from hf_archs.backbones.base import scaled_kv_heads
from hf_archs.designs.multiscale import naive
from hf_archs.designs.multiscale.design import resolved_scales
from hf_archs.testing import (
    VOCAB,
    tiny_bert_config,
    tiny_gemma3_config,
    tiny_llama_config,
)
from tests.conformance.generation import assert_cached_generation_matches_recompute


def bert_config(**overrides) -> MultiscaleBertConfig:
    return MultiscaleBertConfig(**{**tiny_bert_config().to_dict(), "model_type": "multiscale_bert", **overrides})


def llama_config(**overrides) -> MultiscaleLlamaConfig:
    base = tiny_llama_config(num_key_value_heads=2).to_dict()
    return MultiscaleLlamaConfig(**{**base, "model_type": "multiscale_llama", **overrides})


def gemma3_config(**overrides) -> MultiscaleGemma3TextConfig:
    base = tiny_gemma3_config().to_dict()
    return MultiscaleGemma3TextConfig(**{**base, "model_type": "multiscale_gemma3_text", **overrides})


def randomized(model, seed: int):
    """Every parameter random (LayerNorm weights around 1), so no part of the layer can hide behind its init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=g, dtype=parameter.dtype) * 0.3
            parameter.copy_(noise + 1 if "LayerNorm.weight" in name else noise)
    return model


def relative_to(prefix: str, state: dict) -> dict:
    return {name[len(prefix) :]: value for name, value in state.items() if name.startswith(prefix)}


def padded_bert_input(seed: int):
    """A generator, float64 input x (2, 7, 64) whose second row ends in 3 padding tokens, the padding and the
    additive key mask."""
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(2, 7, 64, generator=g, dtype=torch.float64, requires_grad=True)
    padding = torch.ones(2, 7, dtype=torch.bool)
    padding[1, -3:] = False
    additive = torch.zeros(2, 7, dtype=torch.float64).masked_fill(~padding, torch.finfo(torch.float64).min)
    return g, x, padding, additive


def assert_same_outputs_and_gradients(actual, expected, x, state: dict, cotangent):
    """Outputs at 1e-12 and the gradients of every input and weight at 1e-10; every weight takes part."""
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-12)
    inputs = [x, *state.values()]
    grads = torch.autograd.grad((actual * cotangent).sum(), inputs)
    expected_grads = torch.autograd.grad((expected * cotangent).sum(), inputs)
    for name, a, e in zip(["x", *state], grads, expected_grads):
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-10, msg=name)
    assert all(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("seed", [0, 1])
def test_bert_layer_matches_float64_reference_outputs_and_gradients(seed):
    config = bert_config(multiscale_scales=[16, 48, 64], attn_implementation="eager")
    model = randomized(AutoModel.from_config(config).double(), seed).eval()
    layer = model.encoder.layer[0]
    g, x, padding, additive = padded_bert_input(seed)

    actual = layer(x, additive[:, None, None, :])
    state = dict(layer.named_parameters())
    stock = {k: v for k, v in state.items() if not k.startswith("multiscale.")}
    extension = relative_to("multiscale.", state)
    branches = [relative_to(f"branches.{k}.", extension) for k in range(2)]
    projections = [(extension[f"projections.{k}.weight"], extension[f"projections.{k}.bias"]) for k in range(2)]
    fuse = (extension["fuse_weight"], extension["fuse_bias"])
    eps = config.layer_norm_eps
    expected = torch.stack(
        [
            naive.multiscale_bert_layer(
                x[b], stock, branches, projections, fuse, [1, 3, 4], additive[b][None, :].expand(7, 7), eps
            )
            for b in range(2)
        ]
    )
    cotangent = torch.randn(actual.shape, generator=g, dtype=torch.float64) * padding[..., None]
    assert_same_outputs_and_gradients(actual, expected, x, state, cotangent)


@pytest.mark.parametrize("scales, heads", [([16, 48, 64], [1, 3, 4]), ([64], [4])])
@pytest.mark.parametrize("seed", [0, 1])
def test_bert_block_after_encoder_matches_float64_reference_outputs_and_gradients(seed, scales, heads):
    """Placement "after_encoder": only the last layer carries the block, y = h + Fuse(concat_s Block_s(P_s h)) on
    its output h, with a new full-width layer as the last branch (alone with scales [d]: one plain extra layer)."""
    config = bert_config(multiscale_scales=scales, multiscale_placement="after_encoder", attn_implementation="eager")
    model = randomized(AutoModel.from_config(config).double(), seed).eval()
    assert [hasattr(layer, "multiscale") for layer in model.encoder.layer] == [False, True]
    layer = model.encoder.layer[-1]
    g, x, padding, additive = padded_bert_input(seed)

    actual = layer(x, additive[:, None, None, :])
    state = dict(layer.named_parameters())
    stock = {k: v for k, v in state.items() if not k.startswith("multiscale.")}
    extension = relative_to("multiscale.", state)
    narrow = len(scales) - 1
    branches = [relative_to(f"branches.{k}.", extension) for k in range(len(scales))]
    projections = [(extension[f"projections.{k}.weight"], extension[f"projections.{k}.bias"]) for k in range(narrow)]
    assert not any(name.startswith(f"projections.{narrow}.") for name in extension)  # P_d = identity
    fuse = (extension["fuse_weight"], extension["fuse_bias"])
    eps = config.layer_norm_eps
    expected = []
    for b in range(2):
        mask = additive[b][None, :].expand(7, 7)
        h = naive.bert_layer(x[b], stock, 4, mask, eps)
        expected.append(naive.bert_block_after_encoder(h, branches, projections, fuse, heads, mask, eps))
    cotangent = torch.randn(actual.shape, generator=g, dtype=torch.float64) * padding[..., None]
    assert_same_outputs_and_gradients(actual, torch.stack(expected), x, state, cotangent)


def rms_norm_in_input_dtype(self, hidden_states):
    """Stock `LlamaRMSNorm` normalizes in float32 whatever the input dtype (about 1e-6 off in float64)."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


@pytest.mark.parametrize("seed", [0, 1])
def test_llama_layer_matches_float64_reference_outputs_and_gradients(seed, monkeypatch):
    """The decoder path: GQA heads scaled per branch (4/2 stock, 1/1 and 3/1 branches), one set of rotary cos/sin
    shared by every branch, causal and left-padding mask. The stock RMSNorm is run in float64 so that the
    comparison is at float64 precision."""
    monkeypatch.setattr(LlamaRMSNorm, "forward", rms_norm_in_input_dtype)
    config = llama_config(multiscale_scales=[16, 48, 64], attn_implementation="eager")
    model = randomized(AutoModel.from_config(config).double(), seed).eval()
    layer = model.layers[1]
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(2, 6, 64, generator=g, dtype=torch.float64, requires_grad=True)
    positions = torch.tensor([[0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 2, 3]])
    allowed = torch.ones(6, 6, dtype=torch.bool).tril()[None].repeat(2, 1, 1)
    allowed[1, :, :2] = False  # left padding of the second row (its padding queries see only themselves)
    allowed[1, :2, :2] = torch.eye(2, dtype=torch.bool)
    additive = torch.zeros(2, 6, 6, dtype=torch.float64).masked_fill(~allowed, torch.finfo(torch.float64).min)
    # cos/sin of the float64 angles (the stock rotary module computes its angles in float32 whatever the dtype).
    angles = naive.rope_angles(positions, 16, config.rope_parameters["rope_theta"]).repeat(1, 1, 2)
    position_embeddings = (angles.cos(), angles.sin())

    actual = layer(
        x, attention_mask=additive[:, None], position_embeddings=position_embeddings, position_ids=positions
    )
    state = dict(layer.named_parameters())
    stock = {k: v for k, v in state.items() if not k.startswith("multiscale.")}
    extension = relative_to("multiscale.", state)
    branches = [relative_to(f"branches.{k}.", extension) for k in range(2)]
    projections = [(extension[f"projections.{k}.weight"], extension[f"projections.{k}.bias"]) for k in range(2)]
    fuse = (extension["fuse_weight"], extension["fuse_bias"])
    shapes = [(1, 1, 16), (3, 1, 16), (4, 2, 16)]
    theta = config.rope_parameters["rope_theta"]
    expected = torch.stack(
        [
            naive.multiscale_llama_layer(
                x[b], stock, branches, projections, fuse, shapes, positions[b], additive[b], config.rms_norm_eps, theta
            )
            for b in range(2)
        ]
    )
    cotangent = torch.randn(actual.shape, generator=g, dtype=torch.float64)
    cotangent[1, :2] = 0  # padding queries
    assert_same_outputs_and_gradients(actual, expected, x, state, cotangent)


@pytest.mark.parametrize("placement", ["layers", "after_encoder"])
@pytest.mark.parametrize("make_config", [bert_config, llama_config, gemma3_config])
def test_identity_is_the_stock_model_exactly(make_config, placement):
    """Fuse = [0 | I] ("layers") or Fuse = 0 ("after_encoder") gives the stock model's output bit for bit, whatever
    the branches compute."""
    torch.manual_seed(0)
    model = AutoModel.from_config(make_config(multiscale_placement=placement)).eval()
    stock_class = model.config.backbone.stock_base_class
    stock = stock_class._from_config(make_config(), attn_implementation="sdpa").eval()
    stock.load_state_dict({k: v for k, v in model.state_dict().items() if ".multiscale." not in k})
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(input_ids=input_ids).last_hidden_state, stock(input_ids=input_ids).last_hidden_state)


@pytest.mark.parametrize("make_config", [bert_config, llama_config, gemma3_config])
def test_hidden_states_are_the_fused_layer_outputs(make_config):
    """One hidden state per stock layer (the branches run with recording paused), each the fused output of its
    layer, and one attention map per stock layer with the stock head count."""
    torch.manual_seed(0)
    config = make_config(multiscale_branch_weight=0.3, attn_implementation="eager")
    model = AutoModel.from_config(config).eval()
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    captured = []
    layers = model.get_submodule(config.backbone.layers)
    handles = [layer.register_forward_hook(lambda m, a, o: captured.append(o)) for layer in layers]
    with torch.no_grad():
        outputs = model(input_ids=input_ids, output_hidden_states=True, output_attentions=True)
    for handle in handles:
        handle.remove()
    assert len(outputs.hidden_states) == config.num_hidden_layers + 1
    assert len(outputs.attentions) == config.num_hidden_layers
    assert all(a.shape[1] == config.num_attention_heads for a in outputs.attentions)
    # The last entry is the model output (after the final norm on decoders); the others are the layers' outputs.
    for index, layer_output in enumerate(captured[:-1]):
        torch.testing.assert_close(outputs.hidden_states[index + 1], layer_output, atol=0, rtol=0)
    fuse_weights = [layer.multiscale.fuse_weight for layer in layers]
    assert all(w[:, : -w.shape[0]].abs().sum() > 0 for w in fuse_weights)  # the narrower branches contribute


@pytest.mark.parametrize("placement", ["layers", "after_encoder"])
@pytest.mark.parametrize("make_config", [llama_config, gemma3_config])
def test_each_branch_keeps_a_cache_layer_of_its_stock_layers_kind(make_config, placement):
    torch.manual_seed(0)
    config = make_config(multiscale_branch_weight=0.3, multiscale_placement=placement)
    model = AutoModelForCausalLM.from_config(config).eval()
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    out = model.generate(
        input_ids=input_ids, max_new_tokens=4, do_sample=False, pad_token_id=0, return_dict_in_generate=True
    )
    cache = out.past_key_values
    layers = model.model.layers
    extended = [(layer_idx, layer) for layer_idx, layer in enumerate(layers) if hasattr(layer, "multiscale")]
    if placement == "after_encoder":  # one block of every width, the full one included, after the last layer
        assert [layer_idx for layer_idx, _ in extended] == [config.num_hidden_layers - 1]
        assert len(cache.layers) == config.num_hidden_layers + len(resolved_scales(config))
    else:
        assert len(cache.layers) == config.num_hidden_layers * len(resolved_scales(config))
    for layer_idx, layer in extended:
        for branch, cache_index in zip(layer.multiscale.branches, layer.multiscale.cache_indices):
            assert branch.self_attn.layer_idx == cache_index
            assert type(cache.layers[cache_index]) is type(cache.layers[layer_idx])
            assert cache.layers[cache_index].keys.shape[1] == branch.self_attn.config.num_key_value_heads
            assert cache.layers[cache_index].keys.shape[-2] == cache.layers[layer_idx].keys.shape[-2]


def test_branches_follow_a_changed_attention_implementation():
    torch.manual_seed(0)
    model = AutoModel.from_config(bert_config(multiscale_branch_weight=0.3, attn_implementation="sdpa")).eval()
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(input_ids=input_ids).last_hidden_state
        model.set_attn_implementation("eager")
        actual = model(input_ids=input_ids, output_attentions=True).last_hidden_state
    branch_configs = [c for layer in model.encoder.layer for c in layer.multiscale.branch_configs]
    assert branch_configs and all(c._attn_implementation == "eager" for c in branch_configs)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_default_scales_are_the_seeds_for_minilm_width():
    config = bert_config(hidden_size=384, num_attention_heads=12, intermediate_size=1536)
    assert resolved_scales(config) == [64, 128, 256, 384]
    assert resolved_scales(bert_config()) == [16, 32, 64]  # d = 64, 4 heads: multiples of 16


def test_branch_shapes_scale_heads_kv_heads_and_mlp():
    model = AutoModel.from_config(llama_config(multiscale_scales=[16, 48, 64]))
    first, second = model.layers[0].multiscale.branches
    assert (first.self_attn.config.num_attention_heads, first.self_attn.config.num_key_value_heads) == (1, 1)
    assert (second.self_attn.config.num_attention_heads, second.self_attn.config.num_key_value_heads) == (3, 1)
    assert first.mlp.gate_proj.weight.shape == (32, 16)
    assert scaled_kv_heads(6, 8, 4) == 3 and scaled_kv_heads(5, 8, 4) == 1 and scaled_kv_heads(4, 4, 2) == 2


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"multiscale_scales": [16, 40, 64]}, "multiple of"),
        ({"multiscale_scales": [16, 32]}, "include hidden_size"),
        ({"multiscale_scales": [64]}, "narrower"),
        ({"multiscale_scales": [16, 16, 64]}, "distinct"),
        ({"multiscale_layers": [0, 5]}, "multiscale_layers"),
        ({"multiscale_branch_weight": float("nan")}, "finite"),
        ({"multiscale_placement": "before_encoder"}, "multiscale_placement"),
        ({"multiscale_placement": "after_encoder", "multiscale_layers": [1]}, "after_encoder"),
    ],
)
def test_contradicting_fields_are_refused(fields, message):
    with pytest.raises(Exception, match=message):
        bert_config(**fields)


def test_chosen_layers_only():
    model = AutoModel.from_config(bert_config(multiscale_layers=[1]))
    assert not hasattr(model.encoder.layer[0], "multiscale") and hasattr(model.encoder.layer[1], "multiscale")
    assert model.encoder.layer[1].multiscale.cache_indices == [2, 3]


@pytest.mark.parametrize("make_config", [llama_config, gemma3_config])
def test_block_after_encoder_decodes_with_its_caches_as_recomputed(make_config):
    """With the block active, cached greedy decoding gives the recomputed tokens and logits (float64, left
    padding), and the block changes the model's output."""
    torch.manual_seed(0)
    config = make_config(multiscale_branch_weight=0.3, multiscale_placement="after_encoder")
    model = AutoModelForCausalLM.from_config(config).double().eval()
    input_ids = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, :2] = 0
    kwargs = dict(max_new_tokens=5, do_sample=False, pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask)
    recomputed = assert_cached_generation_matches_recompute(model, inputs, kwargs, atol=1e-10)
    with torch.no_grad():
        active = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1]
        model.model.layers[-1].multiscale.fuse_weight.zero_()
        without_block = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1]
    torch.testing.assert_close(recomputed.logits[0], active.float())  # generate() returns float32 logits
    assert (active - without_block).abs().max() > 1e-3


@pytest.mark.parametrize("placement", ["layers", "after_encoder"])
@pytest.mark.parametrize("make_config", [llama_config, gemma3_config])
def test_decoder_outputs_never_see_later_tokens(make_config, placement):
    """Changing the last token leaves every earlier position's logits exactly as they were, with every parameter
    random (each branch and the fusion active), while the last position's logits change: the block and the branches
    stay causal."""
    config = make_config(multiscale_placement=placement, attn_implementation="eager")
    model = randomized(AutoModelForCausalLM.from_config(config), seed=0).double().eval()
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(2))
    changed = input_ids.clone()
    changed[:, -1] = (changed[:, -1] + 1 - 3) % (VOCAB - 3) + 3
    with torch.no_grad():
        before, after = model(input_ids=input_ids).logits, model(input_ids=changed).logits
    torch.testing.assert_close(after[:, :-1], before[:, :-1], atol=0, rtol=0)
    assert (after[:, -1] - before[:, -1]).abs().max() > 1e-6
