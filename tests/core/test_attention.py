"""The attention paths of `core/attention.py` for a term that replaces q·k."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hf_archs.core.attention import REFERENCE_PATHS, LogitTerm


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
