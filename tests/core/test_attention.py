"""The attention paths of `core/attention.py` for a term that replaces q·k, and the encoding of token positions among
a term's features (exact in the KV cache's dtype)."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hf_archs.core.attention import (
    MAX_EXACT_POSITION,
    REFERENCE_PATHS,
    LogitTerm,
    decode_positions,
    encode_positions,
)


class FixedLogits(LogitTerm):
    """A term that replaces q·k with fixed logits (no work of its own)."""

    replaces_query_key = True
    num_features = 1

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def bias(self, query_features, key_features, dtype):
        return self.logits.to(dtype)


@pytest.mark.parametrize("implementation", sorted(REFERENCE_PATHS))
def test_a_term_that_replaces_query_key_pays_only_for_the_values(implementation):
    batch, heads, length, head_dim = 2, 4, 16, 8
    torch.manual_seed(0)
    query, key, value = (torch.randn(batch, heads, length, head_dim, dtype=torch.float64) for _ in range(3))
    logits = torch.randn(batch, heads, length, length, dtype=torch.float64)
    layer = nn.Module()
    layer.is_causal = False
    features = torch.zeros(batch, length, 1, dtype=torch.float64)
    with FlopCounterMode(display=False) as counter:
        output, _ = REFERENCE_PATHS[implementation](
            layer.eval(),
            query,
            key,
            value,
            None,
            scaling=head_dim**-0.5,
            dropout=0.0,
            terms=[FixedLogits(logits)],
            query_features=features,
            key_features=features,
        )
    # softmax(logits)·V alone: one (L × L)·(L × D) product per head; q·k would double it.
    assert counter.get_total_flops() == 2 * batch * heads * length * length * head_dim
    expected = torch.softmax(logits, dim=-1) @ value
    torch.testing.assert_close(output, expected.transpose(1, 2), atol=1e-12, rtol=1e-12)


# Largest error on the fractional part of a position, per features' dtype (half of its spacing just below 1).
FRACTION_ERROR = {torch.bfloat16: 2.0**-9, torch.float16: 2.0**-12, torch.float32: 2.0**-25, torch.float64: 0.0}


@pytest.mark.parametrize("dtype", list(FRACTION_ERROR))
def test_integer_positions_come_back_exactly_from_features_of_any_dtype(dtype):
    """A position as one number is rounded in bfloat16 above 256 (1001 -> 1000, 65001 -> 65024): every integer
    position in [−2^16, 2^16) must come back exactly."""
    g = torch.Generator().manual_seed(0)
    edges = torch.tensor([-MAX_EXACT_POSITION, -257, -1, 0, 1, 255, 256, 257, 1001, 65001, MAX_EXACT_POSITION - 1])
    positions = torch.cat([edges, torch.randint(-MAX_EXACT_POSITION, MAX_EXACT_POSITION, (4096,), generator=g)])
    features = encode_positions(positions.float(), dtype)
    assert features.dtype == dtype and features.shape == (len(positions), 3)
    decoded = decode_positions(features)
    assert decoded.dtype == torch.promote_types(dtype, torch.float32)
    assert torch.equal(decoded, positions.to(decoded.dtype))


@pytest.mark.parametrize("dtype", list(FRACTION_ERROR))
def test_fractional_positions_keep_the_stated_precision(dtype):
    g = torch.Generator().manual_seed(1)
    positions = torch.rand(4096, generator=g, dtype=torch.float64) * 2 * MAX_EXACT_POSITION - MAX_EXACT_POSITION
    decoded = decode_positions(encode_positions(positions, dtype)).double()
    error = (decoded - positions).abs()
    # The integer part is exact; float32 decoding then rounds the sum (2^-24 relative), float64 does not.
    relative_rounding = 0.0 if dtype == torch.float64 else 2.0**-24
    assert bool((error <= FRACTION_ERROR[dtype] + relative_rounding * positions.abs()).all()), error.max()
    # Near 0 that rounding is negligible: the fraction alone has the stated precision.
    small = torch.rand(4096, generator=g, dtype=torch.float64) * 4
    small_error = (decode_positions(encode_positions(small, dtype)).double() - small).abs()
    assert bool((small_error <= FRACTION_ERROR[dtype] + relative_rounding * 4).all()), small_error.max()


def test_positions_carry_their_gradient():
    positions = torch.tensor([[0.25, 3.5, 1000.75, -2.5]], dtype=torch.float64, requires_grad=True)
    decoded = decode_positions(encode_positions(positions, torch.float64))
    torch.testing.assert_close(decoded, positions.detach(), atol=0, rtol=0)
    (gradient,) = torch.autograd.grad(decoded.sum(), positions)
    assert torch.equal(gradient, torch.ones_like(positions))


def test_positions_outside_the_exact_range_are_refused_in_16_bits():
    beyond = torch.tensor([0.0, float(MAX_EXACT_POSITION)])
    for dtype in (torch.bfloat16, torch.float16):
        with pytest.raises(ValueError, match="exact in"):
            encode_positions(beyond, dtype)
        encode_positions(beyond - 1, dtype)  # the last exact position
    encode_positions(beyond, torch.float32)
    # Under autocast the keys, and so the cached features, are 16-bit whatever the attention input's dtype.
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(ValueError, match="exact in"):
        encode_positions(beyond, torch.float32)
