"""The synthesizer design's own fields and its position handling, on every backbone it has."""

import pytest
import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.core.model import design_parameter_names
from hf_archs.registry import ZOO
from hf_archs.testing import STOCK_VARIANTS


ENTRIES = [entry for entry in ZOO if entry.design_name == "synthesizer"]


def tiny_model(entry, **settings):
    variant = next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)
    config = entry.backbone.design_config(entry.config_class, variant.config, **settings)
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(config).eval()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_contradictory_fields_are_refused(entry):
    for bad in (
        {"synthesizer_layers": [0, 5]},
        {"synthesizer_kind": "factorized"},
        {"synthesizer_max_positions": 0},
        {"synthesizer_hidden_size": 0},
    ):
        with pytest.raises(Exception, match=next(iter(bad))):
            entry.config_class(num_hidden_layers=2, **bad)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
@pytest.mark.parametrize(
    "kind, expected",
    [
        ("dense", {"dense_in.weight", "dense_in.bias", "dense_out.weight", "dense_out.bias", "dense_weight"}),
        ("random", {"table", "random_weight"}),
    ],
)
def test_kind_and_layers_select_parameters(entry, kind, expected):
    model = tiny_model(entry, synthesizer_kind=kind, synthesizer_layers=[1])
    names = design_parameter_names(model)
    assert {name.rsplit("synthesizer.", 1)[1] for name in names} == expected
    assert all(".1." in name for name in names), names


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_positions_beyond_the_table_are_refused_clearly(entry):
    model = tiny_model(entry, synthesizer_max_positions=8, synthesizer_weight_init=0.5)
    with torch.no_grad():
        model(input_ids=torch.randint(3, 100, (1, 8)))  # positions 0..7: covered
        with pytest.raises(ValueError, match=r"covers positions 0 \.\.\. 7"):
            model(input_ids=torch.randint(3, 100, (1, 9)))
        if not entry.is_decoder:  # BERT's own position embedding refuses negative positions first
            return
        with pytest.raises(ValueError, match="synthesizer_max_positions"):
            model(input_ids=torch.randint(3, 100, (1, 2)), position_ids=torch.tensor([[-1, 0]]))


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.is_decoder], ids=lambda e: e.model_type)
def test_decoding_past_the_table_is_refused(entry):
    """The cache offset counts: with 6 prompt tokens, the 3rd new token is the last one computed (it is sampled from
    position 7's output); the 4th needs the 3rd run at position 8, past a table of 8."""
    variant = next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)
    config = entry.backbone.design_config(
        entry.config_class, variant.config, synthesizer_max_positions=8, synthesizer_weight_init=0.5
    )
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    model.generation_config.eos_token_id = None
    input_ids = torch.randint(3, 100, (1, 6))
    assert model.generate(input_ids, max_new_tokens=3, do_sample=False, pad_token_id=0).shape[1] == 9
    with pytest.raises(ValueError, match="covers positions"):
        model.generate(input_ids, max_new_tokens=4, do_sample=False, pad_token_id=0)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_random_kind_reads_absolute_positions(entry):
    """Shifting every position changes the random kind's logits (they are per absolute position pair), but a token's
    content does not enter them: the same positions with other tokens give the same synthesized bias."""
    model = tiny_model(entry, synthesizer_kind="random", synthesizer_weight_init=1.0)
    term = next(m for m in model.modules() if type(m).__name__ == "SynthesizerTerm")
    x = torch.randn(1, 5, model.config.hidden_size)
    positions = torch.arange(5.0)[None]
    with torch.no_grad():
        features = term("features", x, positions)
        bias = term("bias", features, features, torch.float32)
        other = term("features", torch.randn_like(x), positions)
        shifted = term("features", x, positions + 2)
        torch.testing.assert_close(term("bias", other, other, torch.float32), bias)
        assert (term("bias", shifted, shifted, torch.float32) - bias).abs().max() > 1e-2
        torch.testing.assert_close(bias[0, :, 1, 3], term.table[:, 1, 3] * term.random_weight)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_default_table_covers_the_backbones_context(entry):
    """M defaults to the backbone's `max_position_embeddings` (it was 128 whatever the context): a 768-token input fits
    a model made for 1024; past the table, the refusal names the field. An explicit (saved) M stays."""
    model = tiny_model(entry, max_position_embeddings=1024, synthesizer_weight_init=0.5)
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.randint(3, 100, (1, 768))).last_hidden_state).all()
        if entry.is_decoder:  # RoPE runs past max_position_embeddings; the synthesized logits cannot
            with pytest.raises(ValueError, match="synthesizer_max_positions=1024"):
                model(input_ids=torch.randint(3, 100, (1, 2)), position_ids=torch.tensor([[0, 1024]]))
    explicit = tiny_model(entry, max_position_embeddings=1024, synthesizer_max_positions=16)
    reloaded = type(explicit.config).from_dict(explicit.config.to_dict())
    assert reloaded.synthesizer_max_positions == 16
