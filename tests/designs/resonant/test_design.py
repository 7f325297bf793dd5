"""The resonant design's own fields, its logit term against the float64 reference, and exact conversion of the real
all-MiniLM-L6-v2."""

import pytest
import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.conversion import IDENTITY_ATOL, convert
from hf_archs.core.model import design_parameter_names
from hf_archs.designs.resonant.design import ResonantFields, ResonantTerm
from hf_archs.designs.resonant.naive import resonance_naive, slot_states
from hf_archs.registry import ZOO
from hf_archs.testing import STOCK_VARIANTS
from tests.conformance.generation import assert_cached_generation_matches_recompute
from tests.conftest import quiet


RESONANT_ENTRIES = [entry for entry in ZOO if entry.design_name == "resonant"]


@pytest.mark.parametrize("entry", RESONANT_ENTRIES, ids=lambda e: e.model_type)
@pytest.mark.parametrize(
    "settings,field",
    [
        ({"resonant_top_k": 9, "resonant_num_slots": 8}, "resonant_top_k"),
        ({"resonant_top_k": 0}, "resonant_top_k"),
        ({"resonant_weight_jaccard": 0.5}, "sum to 1"),
        ({"resonant_weight_jaccard": 1.5, "resonant_weight_phase": -0.5 - 1 / 3}, "sum to 1"),
        ({"resonant_quaternion": "cubed"}, "resonant_quaternion"),
        ({"resonant_temperature": 0.0}, "resonant_temperature"),
        ({"resonant_layers": [0, 5]}, "resonant_layers"),
        ({"resonant_layers": [1, 1]}, "resonant_layers"),
    ],
)
def test_contradictory_fields_are_refused(entry, settings, field):
    with pytest.raises(Exception, match=field):
        entry.config_class(num_hidden_layers=2, **settings)


@pytest.mark.parametrize("entry", RESONANT_ENTRIES, ids=lambda e: e.model_type)
def test_resonant_layers_select_layers(entry):
    variant = next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)
    config = entry.backbone.design_config(entry.config_class, variant.config, resonant_layers=[1])
    names = sorted(design_parameter_names(transformers.AutoModel.from_config(config)))
    assert len(names) == 3 and all(".1." in name and ".resonant." in name for name in names), names


def _term(quaternion, heads=4, slots=6, top_k=2, width=16):
    config = ResonantFields(
        resonant_num_slots=slots,
        resonant_top_k=top_k,
        resonant_quaternion=quaternion,
        resonant_temperature=0.7,
        resonant_weight_jaccard=0.5,
        resonant_weight_quaternion=0.25,
        resonant_weight_phase=0.25,
    )
    config.num_attention_heads, config.hidden_size = heads, width
    term = ResonantTerm(config).double()
    term.init_design_weights(config)
    with torch.no_grad():
        term.weight.copy_(torch.linspace(-2, 2, heads))
    return term


@pytest.mark.parametrize("quaternion", ["abs", "squared"])
def test_term_bias_is_lambda_times_the_reference_score(quaternion):
    """lambda_h · Res_h / temperature against the float64 reference, with a query block shorter than the keys (as
    with a KV cache), outputs and gradients of the projection and lambda."""
    term = _term(quaternion)
    x = torch.randn(2, 9, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    features = term.features(x)
    query_features, key_features = features[:, -3:], features
    actual = term.bias(query_features, key_features, torch.float64)
    states = [slot_states(f, 4, 2) for f in (query_features, key_features)]
    score = resonance_naive(*states, (0.5, 0.25, 0.25), squared=quaternion == "squared")
    expected = term.weight.view(1, -1, 1, 1) * score / 0.7
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    assert actual.shape == (2, 4, 3, 9)
    upstream = torch.randn_like(actual)
    parameters = list(term.parameters())
    grads = [torch.autograd.grad((out * upstream).sum(), parameters, retain_graph=True) for out in (actual, expected)]
    for actual_grad, expected_grad in zip(*grads):
        assert expected_grad.abs().max() > 0
        torch.testing.assert_close(actual_grad, expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_minilm_converts_exactly(minilm_dir, tmp_path):
    """The real all-MiniLM-L6-v2 at lambda = 0: outputs and sentence embeddings within 1e-5 of the stock model."""
    pytest.importorskip("sentence_transformers")
    report = quiet(convert, "resonant", str(minilm_dir), tmp_path / "minilm-resonant", progress=False)
    assert report.model_type == "resonant_bert" and report.identity
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL, report.max_abs_diff
    assert report.sentence_embedding_max_abs_diff <= IDENTITY_ATOL
    assert len(report.new_parameters) == 6 * 3  # lambda and the projection (weight, bias) per layer


def test_squared_form_generates_the_same_with_and_without_cache(tmp_path):
    """The squared variant through a whole decoder: cached greedy decoding with left padding equals recompute."""
    entry = next(e for e in RESONANT_ENTRIES if e.backbone.name == "llama")
    variant = next(v for v in STOCK_VARIANTS if v.backbone == "llama")
    config = entry.backbone.design_config(
        entry.config_class, variant.config, resonant_lambda_init=1.0, resonant_quaternion="squared"
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    input_ids = torch.randint(3, 100, (2, 7), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0
    kwargs = dict(max_new_tokens=6, do_sample=False, pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    inputs = dict(input_ids=input_ids, attention_mask=attention_mask)
    assert_cached_generation_matches_recompute(model, inputs, kwargs)


@pytest.mark.slow
def test_real_gemma_converts_exactly(gemma3_dir, tmp_path):
    """The real google/gemma-3-270m at lambda = 0 (real text through its tokenizer, left and right padding)."""
    report = quiet(convert, "resonant", str(gemma3_dir), tmp_path / "gemma-resonant", progress=False)
    assert report.model_type == "resonant_gemma3_text" and report.identity
    assert set(report.max_abs_diff) == {"right_padding", "left_padding"}
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL, report.max_abs_diff
