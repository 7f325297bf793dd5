"""The synthesizer term against its loop reference in float64: outputs and gradients, on fresh random inputs, with
fractional positions, padding and a KV-cache-like query offset."""

import pytest
import torch

import hf_archs  # noqa: F401
from hf_archs.core.attention import attention_naive, reference_attention, term_biases
from hf_archs.designs.synthesizer.design import SynthesizerTerm
from hf_archs.designs.synthesizer.naive import synthesizer_bias_naive
from hf_archs.models import SynthesizerLlamaConfig


HEADS, HIDDEN, MAX_POSITIONS = 2, 8, 12


def make_term(kind: str, seed: int) -> SynthesizerTerm:
    config = SynthesizerLlamaConfig(
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        num_hidden_layers=1,
        synthesizer_kind=kind,
        synthesizer_max_positions=MAX_POSITIONS,
        synthesizer_hidden_size=5,
    )
    torch.manual_seed(seed)
    term = SynthesizerTerm(config).double()
    term.init_design_weights(config)
    with torch.no_grad():  # every parameter away from its init, the mixing weights included
        for parameter in term.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return term


def naive_bias(term, x, query_positions, key_positions):
    dense = None
    if term.dense:
        dense = (
            term.dense_in.weight,
            term.dense_in.bias,
            term.dense_out.weight,
            term.dense_out.bias,
            term.dense_weight,
        )
    return synthesizer_bias_naive(
        x,
        query_positions,
        key_positions,
        num_heads=HEADS,
        max_positions=MAX_POSITIONS,
        dense=dense,
        table=term.table if term.random else None,
        random_weight=term.random_weight if term.random else None,
    )


@pytest.mark.parametrize("kind", ["dense", "random", "dense+random"])
@pytest.mark.parametrize("seed", [0, 1])
def test_term_matches_the_loop_reference_outputs_and_gradients(kind, seed):
    term = make_term(kind, seed)
    generator = torch.Generator().manual_seed(100 + seed)
    batch, past, length = 2, 3, 4
    # Keys: 3 cached tokens then the 4 queries; row 0 left-padded (positions start later), fractional in row 1.
    key_positions = torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0], [2.5, 3.0, 3.5, 4.0, 7.25, 9.0, 11.0]])
    query_positions = key_positions[:, past:]
    x_keys = torch.randn(batch, past + length, HIDDEN, dtype=torch.float64, generator=generator, requires_grad=True)
    x_query = x_keys[:, past:]
    query = torch.randn(batch, HEADS, length, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    key = torch.randn(batch, HEADS, past + length, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    value = torch.randn(batch, HEADS, past + length, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    attention_mask = torch.ones(batch, 1, length, past + length, dtype=torch.bool).tril(diagonal=past)
    attention_mask[0, ..., :2] = False  # left padding

    class Layer(torch.nn.Module):
        is_causal = False

    key_features = term("features", x_keys, key_positions)
    bias = term_biases([term], key_features[:, past:], key_features, torch.float64)
    actual, _ = reference_attention(Layer().eval(), query, key, value, attention_mask, scaling=0.5, bias=bias)
    expected_bias = naive_bias(term, x_query, query_positions, key_positions)
    expected, _ = attention_naive(query, key, value, expected_bias, scaling=0.5, attention_mask=attention_mask)
    torch.testing.assert_close(bias, expected_bias, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(actual, expected.transpose(1, 2), atol=1e-12, rtol=1e-10)

    upstream = torch.randn(actual.shape, dtype=torch.float64, generator=generator)
    inputs = [x_keys, query, key, value, *term.parameters()]
    grads = torch.autograd.grad((actual * upstream).sum(), inputs, allow_unused=True)
    expected_grads = torch.autograd.grad((expected.transpose(1, 2) * upstream).sum(), inputs, allow_unused=True)
    for tensor, grad, expected_grad in zip(inputs, grads, expected_grads):
        # None: an input the kind does not read (x for the random kind), in both computations alike.
        assert (grad is None) == (expected_grad is None)
        if grad is not None:
            torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=1e-10)
            assert tensor is x_keys or grad.abs().sum() > 0
    # The term is really there: without it the output differs.
    plain, _ = reference_attention(Layer().eval(), query, key, value, attention_mask, scaling=0.5)
    assert (plain - actual).abs().max() > 1e-3


def test_bfloat16_features_keep_fractional_positions():
    """Positions ride in the KV cache in the keys' dtype: in bfloat16 the cached p mod 256 kept no fraction from 128
    on (200.5 came back 200 or 201), so interpolation between table rows was lost. With a table of small integers
    and half positions every step of the random kind is exact in bfloat16: the bias from bfloat16 features must equal
    the float64 reference's."""
    config = SynthesizerLlamaConfig(
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        num_hidden_layers=1,
        synthesizer_kind="random",
        synthesizer_max_positions=1024,
    )
    term = SynthesizerTerm(config)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        term.table.copy_(torch.randint(-3, 4, term.table.shape, generator=generator))
        term.random_weight.fill_(1.0)
    positions = torch.tensor([[3.0, 130.5, 200.5, 255.5, 400.5, 1000.5]])
    x = torch.randn(1, 6, HIDDEN, generator=generator)
    expected = synthesizer_bias_naive(
        x.double(),
        positions.double(),
        positions.double(),
        num_heads=HEADS,
        max_positions=1024,
        table=term.table.double(),
        random_weight=term.random_weight.double(),
    )
    term = term.to(torch.bfloat16)
    features = term("features", x.bfloat16(), positions)
    assert features.dtype == torch.bfloat16
    torch.testing.assert_close(term("bias", features, features, torch.float64), expected, atol=0, rtol=0)
