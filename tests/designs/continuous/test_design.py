"""Continuous positions: the module against the float64 reference (outputs and gradients), per-row normalized
positions, fractional position ids, the exact residual-table setting, extrapolation and the fields' validation."""

import copy

import pytest
import torch
import transformers
from transformers import BertForMaskedLM

import hf_archs  # noqa: F401
from hf_archs import ContinuousBertConfig
from hf_archs.designs.continuous import naive
from hf_archs.designs.continuous.design import ContinuousPositionEncoding, normalized_positions
from hf_archs.testing import VOCAB, tiny_bert_config
from tests.conftest import quiet


def config(**overrides) -> ContinuousBertConfig:
    return ContinuousBertConfig(**{**tiny_bert_config().to_dict(), "model_type": "continuous_bert", **overrides})


def random_encoding(seed: int, **overrides) -> ContinuousPositionEncoding:
    """A float64 module with random weights (W1 spread so that GELU is curved over the inputs used)."""
    cfg = config(continuous_encoding_dim=8, **overrides)
    encoding = ContinuousPositionEncoding(cfg).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in encoding.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=g, dtype=torch.float64))
        if encoding.residual is not None:
            encoding.residual.copy_(torch.randn(encoding.residual.shape, generator=g, dtype=torch.float64))
    return encoding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_matches_reference_outputs_and_gradients(seed):
    encoding = random_encoding(seed)
    g = torch.Generator().manual_seed(100 + seed)
    u = (torch.rand(3, 7, generator=g, dtype=torch.float64) * 4 - 1).requires_grad_()
    weights = [encoding.w1, encoding.b1, encoding.w2, encoding.b2]
    actual = encoding.encode(u)
    expected = naive.encode(u, *weights, hidden_scale=1 / 8**2)  # E = 8
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-12)
    cotangent = torch.randn(actual.shape, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((actual * cotangent).sum(), [u, *weights])
    expected_grads = torch.autograd.grad((expected * cotangent).sum(), [u, *weights])
    for name, a, e in zip(["u", "w1", "b1", "w2", "b2"], grads, expected_grads):
        torch.testing.assert_close(a, e, atol=1e-12, rtol=1e-12, msg=name)


def test_raw_coordinates_divide_by_the_scale():
    encoding = random_encoding(0, continuous_scale=16.0)
    positions = torch.tensor([[0.0, 1.0, 2.5, 40.0]])
    torch.testing.assert_close(encoding.coordinates(positions), positions.double() / 16.0)
    assert random_encoding(0).scale == tiny_bert_config().max_position_embeddings


@pytest.mark.parametrize("seed", [0, 1])
def test_normalized_positions_match_reference(seed):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(6, 9, generator=g) > 0.3).long()
    mask[0] = 0
    mask[0, 4] = 1  # one token: position 0
    mask[1, :3] = 0  # left padding
    mask[2, -3:] = 0  # right padding
    actual = normalized_positions(mask, mask.shape, "cpu")
    torch.testing.assert_close(actual.double(), naive.normalized_positions(mask), atol=1e-7, rtol=0)


def test_normalized_positions_are_the_seed_example():
    """Four tokens get [0, 1/3, 2/3, 1] wherever the padding is."""
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]])
    positions = normalized_positions(mask, mask.shape, "cpu")
    expected = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])
    torch.testing.assert_close(positions[0, :4], expected)
    torch.testing.assert_close(positions[1, 2:], expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_residual_interpolation_matches_reference(seed):
    encoding = random_encoding(seed, continuous_residual_table=True)
    g = torch.Generator().manual_seed(seed)
    positions = torch.rand(2, 11, generator=g, dtype=torch.float64) * (len(encoding.residual) - 1)
    positions[0, :3] = torch.tensor([0.0, 5.0, len(encoding.residual) - 1.0])  # integer positions and the last row
    torch.testing.assert_close(
        encoding.residual_at(positions), naive.interpolate_table(encoding.residual, positions), atol=1e-12, rtol=1e-12
    )
    integer = torch.tensor([[0, 5, 17]])
    assert torch.equal(encoding.residual_at(integer.double()), encoding.residual[integer])


def test_residual_table_refuses_positions_beyond_it():
    encoding = random_encoding(0, continuous_residual_table=True)
    with pytest.raises(ValueError, match="residual table covers positions 0..127"):
        encoding(torch.tensor([[0.0, 127.5]]))


def test_contradictory_fields_are_refused():
    with pytest.raises(Exception, match="continuous_residual_table=True needs raw positions"):
        config(continuous_residual_table=True, continuous_normalize=True)
    with pytest.raises(Exception, match="continuous_encoding_dim"):
        config(continuous_encoding_dim=0)
    with pytest.raises(Exception, match="continuous_scale"):
        config(continuous_scale=-1.0)


# --- the model ------------------------------------------------------------------------------------------------------
def model(**overrides):
    torch.manual_seed(0)
    return transformers.AutoModel.from_config(config(**overrides)).eval()


def test_position_table_is_replaced_and_weights_stay_stock():
    built = model()
    assert isinstance(built.embeddings.position_embeddings, ContinuousPositionEncoding)
    stock_names = {n for n in transformers.BertModel(tiny_bert_config()).state_dict()}
    names = set(built.state_dict())
    assert names - stock_names == {f"embeddings.position_embeddings.{p}" for p in ("w1", "b1", "w2", "b2")}
    assert stock_names - names == {"embeddings.position_embeddings.weight"}


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_normalized_positions_ignore_padding_in_the_model(padding_side):
    """Bug guard: a row's outputs must not depend on the padding on either side (positions come from the mask)."""
    built = model(continuous_normalize=True)
    ids = torch.randint(3, VOCAB, (1, 5), generator=torch.Generator().manual_seed(0))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], 1) if padding_side == "left" else None
    if padded is None:
        padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1)
    mask = (padded != 0).long()
    with torch.no_grad():
        alone = built(input_ids=ids).last_hidden_state[0]
        inside = built(input_ids=padded, attention_mask=mask).last_hidden_state[0][mask[0].bool()]
    torch.testing.assert_close(inside, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_normalized_positions_when_forward_is_called_directly(padding_side):
    """Bug: positions were computed in a forward pre-hook, which `model.forward(...)` (sentence-transformers' call)
    skips, so the MLP got the stock integer positions; a deep copy must compute them too."""
    built = model(continuous_normalize=True)
    ids = torch.randint(3, VOCAB, (1, 5), generator=torch.Generator().manual_seed(2))
    pad = torch.zeros(1, 3, dtype=torch.long)
    padded = torch.cat([pad, ids], 1) if padding_side == "left" else torch.cat([ids, pad], 1)
    mask = (padded != 0).long()
    with torch.no_grad():
        called = built(input_ids=padded, attention_mask=mask).last_hidden_state
        direct = built.forward(input_ids=padded, attention_mask=mask).last_hidden_state
        copied = copy.deepcopy(built).forward(input_ids=padded, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(direct, called, rtol=0, atol=0)
    torch.testing.assert_close(copied, called, rtol=0, atol=0)


def test_normalized_positions_reach_the_encoding():
    """Without position_ids, the normalized model feeds the MLP [0, 1/3, 2/3, 1]: the same as passing them."""
    built = model(continuous_normalize=True)
    ids = torch.randint(3, VOCAB, (2, 4), generator=torch.Generator().manual_seed(1))
    explicit = torch.tensor([[0.0, 1 / 3, 2 / 3, 1.0]]).expand(2, -1)
    with torch.no_grad():
        torch.testing.assert_close(
            built(input_ids=ids).last_hidden_state, built(input_ids=ids, position_ids=explicit).last_hidden_state
        )
        other = built(input_ids=ids, position_ids=explicit * 0.5).last_hidden_state
    assert (other - built(input_ids=ids).last_hidden_state).abs().max() > 1e-3


def test_float_position_ids_without_token_type_ids():
    """Bug: stock BertEmbeddings gathers the default token type ids with the position ids as an index, which failed
    on float position ids; integer-valued float positions give exactly the integer ones."""
    built = model()
    ids = torch.randint(3, VOCAB, (2, 6), generator=torch.Generator().manual_seed(2))
    integer = torch.arange(6)[None]
    with torch.no_grad():
        expected = built(input_ids=ids, position_ids=integer).last_hidden_state
        actual = built(input_ids=ids, position_ids=integer.float()).last_hidden_state
        default = built(input_ids=ids).last_hidden_state
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    torch.testing.assert_close(default, expected, atol=0, rtol=0)


def test_fractional_position_ids_use_the_mlp_between_positions():
    """Position 2.5 gets pe(2.5 / scale), per row; the model's embeddings equal the reference encoding there."""
    built = model()
    encoding = built.embeddings.position_embeddings
    positions = torch.tensor([[0.0, 0.5, 1.0, 2.5], [0.0, 0.33, 0.67, 1.0]])
    with torch.no_grad():
        actual = encoding(positions)
        weights = (encoding.w1, encoding.b1, encoding.w2, encoding.b2)
        expected = naive.encode(positions / encoding.scale, *weights, hidden_scale=1 / 64**2)  # E = 64
        torch.testing.assert_close(actual, expected.float(), atol=1e-6, rtol=1e-5)
        ids = torch.randint(3, VOCAB, (2, 4), generator=torch.Generator().manual_seed(3))
        out = built(input_ids=ids, position_ids=positions).last_hidden_state
        per_row = built(input_ids=ids[1:], position_ids=positions[1:]).last_hidden_state
    torch.testing.assert_close(out[1:], per_row, atol=1e-6, rtol=1e-6)
    assert torch.isfinite(out).all()


def test_pure_mlp_runs_beyond_the_trained_length():
    """The stock table stops at max_position_embeddings; the MLP extrapolates (what it is worth is measured)."""
    built = model()
    length = tiny_bert_config().max_position_embeddings * 2
    ids = torch.randint(3, VOCAB, (1, length), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = built(input_ids=ids).last_hidden_state
    assert out.shape == (1, length, 64) and torch.isfinite(out).all()


def test_residual_table_is_a_buffer_that_training_leaves_alone():
    built = model(continuous_residual_table=True).train()
    encoding = built.embeddings.position_embeddings
    with torch.no_grad():
        encoding.residual.normal_()
    before = encoding.residual.clone()
    assert "residual" not in dict(encoding.named_parameters())
    optimizer = torch.optim.SGD(built.parameters(), lr=0.1)
    ids = torch.randint(3, VOCAB, (2, 6), generator=torch.Generator().manual_seed(5))
    built(input_ids=ids).last_hidden_state.pow(2).mean().backward()
    assert encoding.w2.grad.abs().sum() > 0
    optimizer.step()
    assert torch.equal(encoding.residual, before)


@pytest.mark.parametrize("weights", ["initialized", "fitted"])
@pytest.mark.parametrize("seed", [0, 1])
def test_one_adam_step_moves_the_encoding_as_little_as_a_table_row(weights, seed):
    """Bug: the hidden units (ramps of slope ±E, kinks over [0, 1]) sum to about E²/2, and Adam moves every entry of W2
    by its learning rate in one step, so one step moved pe by up to ~1000 · lr (E = 64): at lr 5e-4 every position's
    encoding shifted by 20× MiniLM's token embeddings and retrieval training collapsed to chance (the continuous
    design alone, and the semantic + continuous + multi-scale composition). A step on a row of the stock table moves
    it by at most lr; the MLP (W2's share plus b2's lr, W1 and b1 barely count) must stay within 2 · lr."""
    from hf_archs.designs.continuous.conversion import fit_mlp

    cfg = config()  # E = 64, the default
    encoding = ContinuousPositionEncoding(cfg)
    encoding.init_design_weights(cfg)
    g = torch.Generator().manual_seed(seed)
    if weights == "fitted":  # the state conversion leaves: W2, b2 fitted to a table
        fit_mlp(encoding, torch.randn(cfg.max_position_embeddings, cfg.hidden_size, generator=g) * 0.02)
    positions = torch.arange(cfg.max_position_embeddings, dtype=torch.float32)[None]  # the trained range
    before = encoding(positions)
    lr = 1e-3
    optimizer = torch.optim.Adam(encoding.parameters(), lr=lr)
    (before * torch.randn(before.shape, generator=g)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        moved = (encoding(positions) - before).abs().max().item()
    assert lr <= moved <= 2 * lr  # b2 alone moves every coordinate by lr


# --- conversion -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stock_bert(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("stock_bert")
    BertForMaskedLM(tiny_bert_config()).save_pretrained(path)
    return path


def test_conversion_reports_the_fit_and_the_output_change(stock_bert, tmp_path):
    report = quiet(
        hf_archs.convert,
        "continuous",
        str(stock_bert),
        tmp_path / "mlp",
        design_settings={"continuous_residual_table": False},
        progress=False,
    )
    fit = report.initialization["position_fit"]
    assert not report.identity and fit["positions"] == 128
    assert 0 < fit["fit_rms"] < fit["table_rms"]  # better than predicting zeros, not exact (a random table)
    assert fit["cancellation"] <= 10.0
    assert min(report.max_abs_diff.values()) > 1e-3  # the pure MLP is not the stock model: reported, not hidden
    # The fitted MLP reproduces the fit error it reports, from the saved checkpoint.
    converted = transformers.AutoModel.from_pretrained(tmp_path / "mlp")
    table = BertForMaskedLM.from_pretrained(stock_bert).bert.embeddings.position_embeddings.weight
    with torch.no_grad():
        error = converted.embeddings.position_embeddings(torch.arange(128)[None])[0] - table
    assert abs(error.pow(2).mean().sqrt().item() - fit["fit_rms"]) < 1e-6


def test_exact_variant_reproduces_stock(stock_bert, tmp_path, batches):
    from hf_archs.conversion import compare_models

    report = quiet(hf_archs.convert, "continuous", str(stock_bert), tmp_path / "exact", progress=False)
    assert report.identity and report.design_settings["continuous_residual_table"] is True
    assert "bert.embeddings.position_embeddings.residual" in report.new_parameters
    stock = BertForMaskedLM.from_pretrained(stock_bert)
    exact = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path / "exact")
    assert max(compare_models(stock, exact, batches).values()) <= 1e-5
    # Float and fractional-free positions through the exact variant: still the stock model.
    ids = batches["right_padding"]["input_ids"]
    with torch.no_grad():
        expected = stock(input_ids=ids).logits
        actual = exact(input_ids=ids, position_ids=torch.arange(ids.shape[1]).float()[None]).logits
    assert (actual - expected).abs().max() <= 1e-5


@pytest.mark.slow
def test_minilm_exact_variant_and_fitted_mlp(minilm_dir, tmp_path):
    """On the real all-MiniLM-L6-v2: the exact variant is the stock model within 1e-5 (hidden states and
    sentence-transformers embeddings); the pure MLP reports its fit and its (large) change in outputs."""
    exact = quiet(hf_archs.convert, "continuous", str(minilm_dir), tmp_path / "exact", progress=False)
    assert exact.identity and max(exact.max_abs_diff.values()) <= 1e-5
    assert exact.sentence_embedding_max_abs_diff is None or exact.sentence_embedding_max_abs_diff <= 1e-5
    settings = {"continuous_residual_table": False}
    fitted = quiet(
        hf_archs.convert, "continuous", str(minilm_dir), tmp_path / "mlp", design_settings=settings, progress=False
    )
    fit = fitted.initialization["position_fit"]
    assert fit["positions"] == 512 and fit["fit_rms"] < fit["table_rms"] and fit["cancellation"] <= 10.0
    assert fit == exact.initialization["position_fit"]  # the same fit under both settings
    assert not fitted.identity and max(fitted.max_abs_diff.values()) > 1e-2
