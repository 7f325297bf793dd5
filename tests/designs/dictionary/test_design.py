"""The dictionary design: its feed-forward input against a token-by-token float64 reference (outputs and gradients),
the identity, layer selection, the frozen table, and bad input."""

import pytest
import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.core.model import design_parameter_names
from hf_archs.designs.dictionary.naive import dictionary_ffn_naive
from hf_archs.registry import ZOO
from hf_archs.testing import STOCK_VARIANTS
from hf_archs.training import design_modules_to_save


ENTRIES = [entry for entry in ZOO if entry.design_name == "dictionary"]


def variant_of(entry):
    return next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)


def design_and_stock(entry, dtype=torch.float64, **settings):
    variant = variant_of(entry)
    config = entry.backbone.design_config(entry.config_class, variant.config, dictionary_size=8, **settings)
    torch.manual_seed(0)
    design = getattr(transformers, variant.head_auto_class).from_config(config).to(dtype).eval()
    stock = variant.model_class(variant.config).to(dtype).eval()
    missing, unexpected = stock.load_state_dict(design.state_dict(), strict=False)
    assert not missing and all("dictionary" in name for name in unexpected)
    return design, stock


def feed_forward_modules(model, entry):
    base = model.base_model
    return {
        i: base.get_submodule(entry.backbone.feed_forward.format(i)) for i in range(model.config.num_hidden_layers)
    }


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_matches_a_token_by_token_reference_outputs_and_gradients(entry):
    """The design model (float64, W random) equals the stock model whose chosen FFNs are replaced by the reference."""
    design, stock = design_and_stock(entry, dictionary_init_std=0.3, dictionary_layers=[1])
    table = design.base_model.dictionary_table.table
    weight = feed_forward_modules(design, entry)[1].dictionary.weight
    input_ids = torch.randint(3, 100, (2, 6), generator=torch.Generator().manual_seed(1))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :2] = 0  # padding
    stock_ffn = feed_forward_modules(stock, entry)[1]
    stock_forward = stock_ffn.forward
    stock_ffn.forward = lambda x, *rest: dictionary_ffn_naive(
        lambda y: stock_forward(y, *rest), x, input_ids, table, weight
    )
    actual = design(input_ids=input_ids, attention_mask=attention_mask).logits
    expected = stock(input_ids=input_ids, attention_mask=attention_mask).logits
    valid = attention_mask.bool()
    torch.testing.assert_close(actual[valid], expected[valid], atol=1e-10, rtol=1e-10)

    # Gradients: of W (shared by both computations) and of every stock weight, design vs stock.
    upstream = torch.randn(actual[valid].shape, dtype=torch.float64)
    stock_parameters = dict(stock.named_parameters())
    design_parameters = {name: p for name, p in design.named_parameters() if name in stock_parameters}
    names = sorted(design_parameters)
    actual_grads = torch.autograd.grad(
        (actual[valid] * upstream).sum(), [weight, *(design_parameters[n] for n in names)]
    )
    expected_grads = torch.autograd.grad(
        (expected[valid] * upstream).sum(), [weight, *(stock_parameters[n] for n in names)], allow_unused=True
    )
    assert actual_grads[0].abs().sum() > 0
    for name, grad, expected_grad in zip(["W", *names], actual_grads, expected_grads):
        expected_grad = torch.zeros_like(grad) if expected_grad is None else expected_grad
        torch.testing.assert_close(grad, expected_grad, atol=1e-10, rtol=1e-10, msg=name)
    # The input is really there: the stock model without the reference differs (by far more than the tolerance).
    stock_ffn.forward = stock_forward
    plain = stock(input_ids=input_ids, attention_mask=attention_mask).logits
    assert (plain[valid] - actual[valid]).abs().max() > 1e-5


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_identity_is_exact_and_trains_the_projection(entry):
    design, stock = design_and_stock(entry, dtype=torch.float32)
    input_ids = torch.randint(3, 100, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(
            design(input_ids=input_ids).logits, stock(input_ids=input_ids).logits, atol=0, rtol=0
        )
    design.train()
    design(input_ids=input_ids).logits.square().mean().backward()
    names = design_parameter_names(design)
    assert len(names) == design.config.num_hidden_layers
    for name, parameter in design.named_parameters():
        if name in names:
            assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_layers_table_and_modules_to_save(entry):
    design, _ = design_and_stock(entry, dictionary_layers=[0])
    names = sorted(design_parameter_names(design))
    assert len(names) == 1 and ".0." in names[0] and names[0].endswith("dictionary.weight"), names
    table = design.base_model.dictionary_table.table
    assert not table.requires_grad and table.shape == (design.config.vocab_size, 8)
    assert any(name.endswith("dictionary_table.table") for name in design.state_dict())  # saved with the model
    # The frozen table has nothing to train: LoRA saves only the projections.
    assert design_modules_to_save(design) == ["dictionary"]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_bad_input_is_refused_clearly(entry):
    for bad in ({"dictionary_layers": [0, 7]}, {"dictionary_size": 0}, {"dictionary_init_std": -1.0}):
        with pytest.raises(Exception, match=next(iter(bad))):
            entry.config_class(num_hidden_layers=2, **bad)
    design, _ = design_and_stock(entry, dtype=torch.float32)
    with pytest.raises(ValueError, match="input_ids"):
        design(inputs_embeds=torch.randn(1, 3, design.config.hidden_size))
    # An added token (past the table's rows) has no entry.
    table = design.base_model.dictionary_table
    entries = table(torch.tensor([[3, design.config.vocab_size + 5]]))
    assert entries[0, 1].abs().sum() == 0 and entries[0, 0].abs().sum() > 0


@pytest.mark.parametrize("source", ["random", "wordnet (built elsewhere)"])
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.model_type)
def test_weight_init_rebuilds_the_table(entry, source):
    """Transformers' own `test_init_weights_can_init_buffers`: a model built on the meta device, moved with `to_empty`
    (arbitrary memory, here NaN) and initialized gets every buffer its `__init__` gives (without weight init); the
    table is rebuilt, not left as whatever memory it got."""
    variant = variant_of(entry)
    config = entry.backbone.design_config(
        entry.config_class, variant.config, dictionary_size=8, dictionary_table_source=source
    )
    model_class = entry.model_classes[variant.head_auto_class]
    skipped = transformers.PreTrainedModel._initialize_weights
    transformers.PreTrainedModel._initialize_weights = lambda *args, **kwargs: None
    try:
        from_init = model_class(config)
    finally:
        transformers.PreTrainedModel._initialize_weights = skipped
    with torch.device("meta"):
        from_meta = model_class(config)
    from_meta.to_empty(device="cpu")
    with torch.no_grad():
        from_meta.base_model.dictionary_table.table.fill_(float("nan"))
    from_meta.init_weights()

    expected, actual = dict(from_init.named_buffers()), dict(from_meta.named_buffers())
    assert sorted(expected) == sorted(actual)
    different = [name for name in expected if not torch.equal(expected[name], actual[name])]
    assert not different, different
    table = from_init.base_model.dictionary_table.table
    assert (table.norm(dim=-1) > 0.5).all() if source == "random" else (table == 0).all()
