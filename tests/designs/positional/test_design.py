"""The positional suite: every variant's module against the float64 reference (outputs and gradients), the seed's
bugs (each test fails on the seed's code), the switch's validation, which stock parts each variant keeps, causality,
cached decoding under every relative bias, and that each variant's new parameters train."""

import math

import pytest
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError

import hf_archs  # noqa: F401
from hf_archs import PositionalBertConfig, PositionalGemma3TextConfig, PositionalLlamaConfig
from hf_archs.core.positions import IdentityRotary
from hf_archs.designs.positional import naive
from hf_archs.designs.positional.design import (
    AbsolutePositionEncoding,
    RelativePositionBias,
    alibi_slopes,
    sinusoidal_table,
)
from hf_archs.testing import VOCAB, tiny_bert_config, tiny_gemma3_config, tiny_llama_config
from tests.conftest import quiet


def bert_config(**overrides) -> PositionalBertConfig:
    return PositionalBertConfig(**{**tiny_bert_config().to_dict(), "model_type": "positional_bert", **overrides})


def llama_config(**overrides) -> PositionalLlamaConfig:
    return PositionalLlamaConfig(**{**tiny_llama_config().to_dict(), "model_type": "positional_llama", **overrides})


def gemma3_config(**overrides) -> PositionalGemma3TextConfig:
    base = {**tiny_gemma3_config().to_dict(), "model_type": "positional_gemma3_text"}
    return PositionalGemma3TextConfig(**{**base, **overrides})


def randomized(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The module in float64 with every parameter drawn at random (so that no test passes on zeros or ones)."""
    module = module.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g, dtype=torch.float64))
    return module


def fractional_positions(seed: int, batch: int = 2, length: int = 6, high: float = 40.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, length, generator=g, dtype=torch.float64) * high).requires_grad_()


def assert_outputs_and_gradients_match(actual, expected, inputs, seed):
    torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)
    cotangent = torch.randn(actual.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    grads = torch.autograd.grad((actual * cotangent).sum(), inputs, allow_unused=True)
    expected_grads = torch.autograd.grad((expected * cotangent).sum(), inputs, allow_unused=True)
    for index, (a, e) in enumerate(zip(grads, expected_grads)):
        if e is None:
            assert a is None or not a.abs().any(), index
            continue
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-10, msg=f"gradient {index}")


# --- absolute encodings against the reference ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["learned", "scaled", "sinusoidal", "continuous"])
def test_absolute_encodings_match_reference(name, seed):
    config = bert_config(positional_encoding=name, positional_continuous_dim=8, positional_sinusoidal_scale=0.7)
    module = randomized(AbsolutePositionEncoding(config), seed)
    positions = fractional_positions(seed, high=config.max_position_embeddings - 1)
    parameters = list(module.parameters())
    actual = module(positions)
    if name == "learned":
        expected = naive.table_at(module.weight, positions)
    elif name == "scaled":
        expected = naive.scaled(module.weight, module.scale, positions)
    elif name == "sinusoidal":
        expected = naive.sinusoidal(positions, config.hidden_size, 0.7)
    else:
        rows = config.max_position_embeddings
        expected = naive.continuous(positions, rows, module.w1, module.b1, module.w2, module.b2, module.hidden_scale)
    assert actual.dtype == torch.float64 and actual.shape == (2, 6, config.hidden_size)
    # Gradients with respect to the positions too (for a table: its slope between neighbouring rows).
    assert_outputs_and_gradients_match(actual, expected, [positions, *parameters], seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_adam_step_moves_the_continuous_encoding_as_little_as_a_table_row(seed):
    """Bug (as in the continuous design): unscaled hidden units (ramps of slope ±E over [0, 1]) sum to ~E²/2, so one
    Adam step on W2 moved pe by up to ~1000 · lr (E = 64) and training collapsed; scaled by 1/E², a step moves pe by
    about lr, as it moves a row of the learned table."""
    config = bert_config(positional_encoding="continuous")  # E = 64, the default
    module = AbsolutePositionEncoding(config)
    module.init_design_weights(config)
    positions = torch.arange(config.max_position_embeddings, dtype=torch.float32)[None]
    before = module(positions)
    lr = 1e-3
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    (before * torch.randn(before.shape, generator=torch.Generator().manual_seed(seed))).sum().backward()
    optimizer.step()
    with torch.no_grad():
        moved = (module(positions) - before).abs().max().item()
    assert lr <= moved <= 2 * lr  # b2 alone moves every coordinate by lr


def test_sinusoidal_frequencies_fix_the_seed_exponent():
    """Seed bug 1: `10000 ** (2 * i / d)` with i = 0, 2, 4, ... The slowest pair of channels (k = d/2 − 1) must turn at
    ω = 10000^(−(d−2)/d); the seed's loop makes it 10000^(−2(d−2)/d), and its odd channels index past d/2."""
    width = 8
    positions = torch.arange(50, dtype=torch.float64)
    table = sinusoidal_table(positions, width)
    slowest = 10000.0 ** (-(width - 2) / width)
    torch.testing.assert_close(table[:, width - 2], torch.sin(positions * slowest))
    torch.testing.assert_close(table[:, width - 1], torch.cos(positions * slowest))
    seed_table = torch.zeros(50, width, dtype=torch.float64)
    for pos in range(50):
        for i in range(0, width, 2):
            seed_table[pos, i] = math.sin(pos / 10000.0 ** (2 * i / width))
            seed_table[pos, i + 1] = math.cos(pos / 10000.0 ** (2 * i / width))
    assert (seed_table - table).abs().max() > 0.5  # the seed's table is another (wrong) one
    torch.testing.assert_close(table, naive.sinusoidal(positions, width))


def test_learned_table_refuses_positions_beyond_it():
    module = AbsolutePositionEncoding(bert_config(positional_encoding="learned", max_position_embeddings=8))
    with pytest.raises(ValueError, match="rows 0..7"):
        module(torch.arange(9))


# --- relative biases against the reference -------------------------------------------------------------------------


def relative_term(name: str, seed: int, backbone=bert_config, **overrides):
    config = backbone(positional_encoding=name, positional_max_distance=3, positional_relative_dim=4, **overrides)
    term = randomized(RelativePositionBias(config), seed)
    term.init_design_weights(config) if name == "alibi" else None
    return config, term.double()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("backbone", [bert_config, llama_config], ids=["bidirectional", "causal"])
@pytest.mark.parametrize("name", ["alibi", "t5", "relative"])
def test_relative_biases_match_reference(name, backbone, seed):
    config, term = relative_term(name, seed, backbone, positional_num_buckets=8, positional_bucket_max_distance=20)
    g = torch.Generator().manual_seed(10 + seed)
    # Integer positions spread wide enough to reach the clipped and logarithmic buckets, and rounded fractional ones.
    positions = (torch.randint(0, 40, (2, 7), generator=g) + torch.rand(2, 7, generator=g) * 0.3).double()
    positions.requires_grad_()  # ALiBi is linear in the distance; t5 and relative round it (no gradient)
    hidden = torch.randn(2, 7, config.hidden_size, generator=g, dtype=torch.float64, requires_grad=True)
    features = term.features(hidden, positions)
    actual = term.bias(features, features, torch.float64)
    params = dict(term.named_parameters())
    params = {"query": term.query.weight, **params} if name == "relative" else params
    options = {
        "alibi": {},
        "t5": dict(bidirectional=backbone is bert_config, num_buckets=8, max_distance=20),
        "relative": dict(max_distance=3),
    }[name]
    expected = naive.bias(name, positions, config.num_attention_heads, hidden=hidden, params=params, options=options)
    assert actual.shape == (2, config.num_attention_heads, 7, 7)
    assert_outputs_and_gradients_match(actual, expected, [positions, hidden, *term.parameters()], seed)


@pytest.mark.parametrize("name", ["alibi", "t5", "relative"])
def test_bfloat16_features_keep_the_distances_of_large_positions(name):
    """Positions ride in the KV cache in the keys' dtype, and bfloat16 holds integers exactly only up to 256 (near
    1000 it rounds to multiples of 8, near 65000 to multiples of 256): neighbouring tokens came back 0 or 8 apart.
    With integer inputs and parameters small enough that every product and sum of the term is exact in bfloat16, the
    bias from bfloat16 features must equal the float64 reference's at the exact positions."""
    config, term = relative_term(name, 0, llama_config, positional_num_buckets=8, positional_bucket_max_distance=20)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for parameter in term.parameters():
            parameter.copy_(torch.randint(-1, 2, parameter.shape, generator=g))
    hidden = torch.randint(-1, 2, (2, 9, config.hidden_size), generator=g).double()
    # Distances up to 40 (past t5's exact buckets and relative's clipping), one row far from 0, one near 2^16.
    offsets = torch.randint(0, 40, (2, 9), generator=g).sort(dim=-1).values
    positions = offsets + torch.tensor([[1000], [65400]])
    params = dict(term.named_parameters())
    params = {"query": term.query.weight, **params} if name == "relative" else params
    options = {
        "alibi": {},
        "t5": dict(bidirectional=False, num_buckets=8, max_distance=20),
        "relative": dict(max_distance=3),
    }[name]
    expected = naive.bias(
        name, positions.double(), config.num_attention_heads, hidden=hidden, params=params, options=options
    )
    term = term.to(torch.bfloat16)
    features = term.features(hidden.bfloat16(), positions.float())
    assert features.dtype == torch.bfloat16
    actual = term.bias(features, features, torch.float64)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


@pytest.mark.parametrize("name", ["alibi", "t5", "relative"])
def test_bfloat16_decoder_is_translation_invariant_far_from_zero(name):
    """Each relative bias reads only distances, and the decoders' RoPE is off under them: shifting every position by
    1000 leaves a bfloat16 model's logits bitwise unchanged, with the keys' positions read back from a bfloat16 KV
    cache."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(llama_config(positional_encoding=name))
    model = model.to(torch.bfloat16).eval()
    ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    positions = torch.arange(9)[None].expand(2, -1)

    def logits(shift: int) -> torch.Tensor:
        with torch.no_grad():
            prompt = model(input_ids=ids[:, :6], position_ids=positions[:, :6] + shift, use_cache=True)
            step = model(
                input_ids=ids[:, 6:], position_ids=positions[:, 6:] + shift, past_key_values=prompt.past_key_values
            )
        return torch.cat([prompt.logits, step.logits], dim=1)

    near, far = logits(0), logits(1000)
    assert torch.equal(near, far)
    assert not torch.equal(near[:, -1], logits(0)[:, -2])  # the logits are not constant


def test_alibi_slopes_for_heads_that_are_not_a_power_of_two():
    for heads in (4, 6, 12):
        expected = torch.tensor([naive.alibi_slope(h, heads) for h in range(heads)], dtype=torch.float64)
        torch.testing.assert_close(alibi_slopes(heads), expected)
    torch.testing.assert_close(alibi_slopes(4), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8], dtype=torch.float64))


def test_relative_scores_fix_the_seed_broadcast():
    """Seed bug 2: `matmul(q, rel_pos_emb.transpose(-2, -1))` with q (b, h, L, d) and rel_pos_emb (L, L, d) matches
    the heads against the L query rows of the table: with the seed's own shapes (8 heads, L = 20) it raises, and with
    one head it runs but returns (b, L, L, L), not a (b, h, L, L) bias. The bias must be
    B(i, j) = q_i · a[clip(j − i)]."""
    index = (torch.arange(5)[None, :] - torch.arange(5)[:, None]).clamp(-3, 3) + 3
    seed_index = (torch.arange(20)[None, :] - torch.arange(20)[:, None]).clamp(-3, 3) + 3
    with pytest.raises(RuntimeError):
        torch.matmul(torch.randn(2, 8, 20, 4), torch.randn(7, 4)[seed_index].transpose(-2, -1))
    config, term = relative_term("relative", 0, num_attention_heads=1, hidden_size=4)
    table = term.distance_embedding[:, 0]  # (2K + 1, d_r)
    q = torch.randn(2, 1, 5, 4, dtype=torch.float64)
    assert torch.matmul(q, table[index].transpose(-2, -1)).shape == (2, 5, 5, 5)  # the seed's line with one head
    with torch.no_grad():
        term.query.weight.copy_(torch.eye(4, dtype=torch.float64))
    hidden = q[:, 0]
    features = term.features(hidden, torch.arange(5, dtype=torch.float64)[None].expand(2, -1))
    bias = term.bias(features, features, torch.float64)
    expected = torch.einsum("bid,ijd->bij", hidden, table[index]) / 2.0  # √d_r = 2
    torch.testing.assert_close(bias[:, 0], expected)


# --- the switch, per backbone --------------------------------------------------------------------------------------


def test_switch_refuses_variants_a_backbone_cannot_carry():
    with pytest.raises(StrictDataclassClassValidationError, match="positional_encoding must be one of"):
        bert_config(positional_encoding="alibi2")
    with pytest.raises(StrictDataclassClassValidationError, match="learned position table"):
        llama_config(positional_encoding="sinusoidal")
    with pytest.raises(StrictDataclassClassValidationError, match="rotary backbone"):
        bert_config(positional_encoding="rope")
    with pytest.raises(StrictDataclassClassValidationError, match="positional_num_buckets"):
        bert_config(positional_encoding="t5", positional_num_buckets=64, positional_bucket_max_distance=32)


@pytest.mark.parametrize("name", ["rope", "nope", "alibi", "t5", "relative"])
@pytest.mark.parametrize("backbone", [llama_config, gemma3_config], ids=["llama", "gemma3"])
def test_decoders_keep_rope_only_for_rope_and_carry_a_bias_only_for_biases(backbone, name):
    model = transformers.AutoModelForCausalLM.from_config(backbone(positional_encoding=name))
    assert isinstance(model.model.rotary_emb, IdentityRotary) is (name != "rope")
    terms = [m for m in model.modules() if isinstance(m, RelativePositionBias)]
    assert len(terms) == (2 if name in ("alibi", "t5", "relative") else 0)
    assert not any(isinstance(m, AbsolutePositionEncoding) for m in model.modules())


@pytest.mark.parametrize("name", ["learned", "scaled", "sinusoidal", "continuous", "alibi", "t5", "relative", "nope"])
def test_bert_variants_replace_the_table(name):
    model = transformers.AutoModel.from_config(bert_config(positional_encoding=name))
    encoding = model.embeddings.position_embeddings
    assert isinstance(encoding, AbsolutePositionEncoding) and encoding.variant == name
    terms = [m for m in model.modules() if isinstance(m, RelativePositionBias)]
    assert len(terms) == (2 if name in ("alibi", "t5", "relative") else 0)
    if name not in ("learned", "scaled", "sinusoidal", "continuous"):
        assert not encoding(torch.arange(5)).any()


@pytest.mark.parametrize("name", ["sinusoidal", "continuous", "alibi", "t5", "relative", "nope"])
def test_bert_variants_without_a_table_run_past_max_position_embeddings(name):
    """Bug: the stock embeddings' buffers of position and token type ids end at `max_position_embeddings`, so an
    encoding meant to extrapolate crashed on a longer input. The default positions are the stock 0 … L − 1."""
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(bert_config(positional_encoding=name, max_position_embeddings=8)).eval()
    ids = torch.randint(3, VOCAB, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        default = model(input_ids=ids).last_hidden_state
        explicit = model(input_ids=ids, position_ids=torch.arange(20)[None].float()).last_hidden_state
    torch.testing.assert_close(default, explicit)


def test_default_switch_is_the_backbone_own_encoding():
    assert transformers.AutoModel.from_config(bert_config()).embeddings.position_embeddings.variant == "learned"
    assert not isinstance(transformers.AutoModel.from_config(llama_config()).rotary_emb, IdentityRotary)


def test_nope_decoder_ignores_positions_but_rope_does_not():
    """NoPE: shifting every position changes nothing; RoPE: relative positions only, so a shift changes nothing either
    but a stretch does. (Shows the rotary embedding really is the identity under nope.)"""
    ids = torch.randint(3, VOCAB, (1, 8), generator=torch.Generator().manual_seed(0))
    for name, stretched_changes in (("nope", False), ("rope", True)):
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(llama_config(positional_encoding=name)).eval()
        with torch.no_grad():
            base = model(input_ids=ids, position_ids=torch.arange(8)[None]).logits
            stretched = model(input_ids=ids, position_ids=3 * torch.arange(8)[None]).logits
        assert bool((base - stretched).abs().max() > 1e-4) is stretched_changes, name


# --- causality (seed bug 3), cached decoding, training -------------------------------------------------------------

DECODER_VARIANTS = ["rope", "nope", "alibi", "t5", "relative"]


@pytest.mark.parametrize("name", DECODER_VARIANTS)
@pytest.mark.parametrize("backbone", [llama_config, gemma3_config], ids=["llama", "gemma3"])
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_no_decoder_variant_sees_the_future(backbone, name, implementation):
    """Seed bug 3: its target mask `triu(ones, 1) == 0` was inverted (each token saw only later ones). Changing the
    last token must leave the logits of every earlier token unchanged."""
    torch.manual_seed(0)
    config = backbone(positional_encoding=name)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=implementation).eval()
    ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 7) % VOCAB
    with torch.no_grad():
        before, after = model(input_ids=ids).logits, model(input_ids=changed).logits
    torch.testing.assert_close(before[:, :-1], after[:, :-1], atol=1e-6, rtol=0)
    assert (before[:, -1] - after[:, -1]).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["alibi", "t5", "relative"])
@pytest.mark.parametrize("backbone", [llama_config, gemma3_config], ids=["llama", "gemma3"])
def test_cached_generation_with_left_padding_matches_recompute(backbone, name):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(backbone(positional_encoding=name)).eval()
    model.generation_config.eos_token_id = None
    ids = torch.randint(3, VOCAB, (2, 7), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    ids = ids.masked_fill(mask == 0, 0)
    kwargs = dict(input_ids=ids, attention_mask=mask, max_new_tokens=5, do_sample=False, pad_token_id=0)
    kwargs.update(return_dict_in_generate=True, output_logits=True)
    cached = model.generate(**kwargs, use_cache=True)
    recomputed = model.generate(**kwargs, use_cache=False)
    assert torch.equal(cached.sequences, recomputed.sequences)
    for a, b in zip(cached.logits, recomputed.logits):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # A left-padded row gives its tokens the positions they would have unpadded: the same logits as the row alone.
    with torch.no_grad():
        row = model(input_ids=ids[:1, 3:]).logits[:, -1]
        padded = model(input_ids=ids, attention_mask=mask).logits[:1, -1]
    torch.testing.assert_close(row, padded, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "backbone,name",
    [(bert_config, n) for n in ("learned", "scaled", "continuous", "t5", "relative")]
    + [(llama_config, n) for n in ("t5", "relative")],
)
def test_new_parameters_of_each_variant_get_gradients(backbone, name):
    config = backbone(positional_encoding=name)
    auto = transformers.AutoModelForMaskedLM if backbone is bert_config else transformers.AutoModelForCausalLM
    model = auto.from_config(config).train()
    ids = torch.randint(3, VOCAB, (2, 10), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids, labels=ids).loss.backward()
    owners = (AbsolutePositionEncoding, RelativePositionBias)
    parameters = {n: p for n, p in model.named_parameters() if any(isinstance(m, owners) for m in [owner(model, n)])}
    assert parameters, name
    for parameter_name, parameter in parameters.items():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name


def owner(model, parameter_name: str) -> torch.nn.Module:
    return model.get_submodule(parameter_name.rsplit(".", 1)[0])


# --- conversion and the LoRA recipe ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant_name,stock_name,identity",
    [("rope", "gqa_untied", True), ("alibi", "gqa_untied", False), ("learned", "base", True), ("t5", "base", False)],
)
def test_conversion_is_exact_at_the_identity_and_reports_fidelity_otherwise(
    stock_dirs, tmp_path, variant_name, stock_name, identity
):
    report = quiet(
        hf_archs.convert,
        "positional",
        str(stock_dirs[stock_name]),
        tmp_path / "model",
        design_settings={"positional_encoding": variant_name},
        progress=False,
    )
    assert report.identity is identity
    worst = max(report.max_abs_diff.values())
    if identity:
        assert worst <= 1e-5, report.max_abs_diff
    else:
        assert worst > 1e-3, report.max_abs_diff  # the stock encoding is gone: reported, not hidden


def lora_train_save_merge(base, load_base, lora_config, tmp_path):
    """Three LoRA steps on `base`, adapter saved, reloaded onto `load_base()` and merged: the merged model is returned
    after checking it gives the trained model's logits."""
    from peft import PeftModel, get_peft_model

    model = get_peft_model(base, lora_config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(3, VOCAB, (2, 12), generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    model.save_pretrained(tmp_path / "adapter")
    merged = PeftModel.from_pretrained(load_base(), tmp_path / "adapter").merge_and_unload().eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-5)
    return merged


def test_lora_recipe_trains_and_saves_the_variant_parameters(stock_dirs, tmp_path):
    """A converted non-identity variant (T5 bias on Llama) adapted with LoRA: the bias table is in
    `modules_to_save`, trains, and survives save / load / merge."""
    from peft import LoraConfig

    from hf_archs.training import design_modules_to_save

    path = tmp_path / "t5"
    quiet(
        hf_archs.convert,
        "positional",
        str(stock_dirs["gqa_untied"]),
        path,
        design_settings={"positional_encoding": "t5"},
        progress=False,
    )
    base = transformers.AutoModelForCausalLM.from_pretrained(path)
    assert design_modules_to_save(base) == ["positional_bias"]
    before = base.model.layers[0].self_attn.positional_bias.bucket_bias.detach().clone()
    lora = LoraConfig(task_type="CAUSAL_LM", r=4, modules_to_save=["positional_bias"])
    merged = lora_train_save_merge(
        base, lambda: transformers.AutoModelForCausalLM.from_pretrained(path), lora, tmp_path
    )
    after = merged.model.layers[0].self_attn.positional_bias.bucket_bias
    assert not torch.equal(after, before)
