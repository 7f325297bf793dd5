"""The attention paths against the naive reference in float64, on fresh random inputs: outputs and gradients."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers.cache_utils import DynamicCache

from hf_archs.core.attention import REFERENCE_PATHS, causal_mask, design_attention_function, update_cache_with_features
from hf_archs.designs.semantic.attention import semantic_fused_attention
from hf_archs.designs.semantic.design import SemanticTerm
from hf_archs.designs.semantic.naive import semantic_attention_naive, unit_normalize


class SemanticLayerStub(nn.Module):
    """What the attention functions read from a layer: causality, training mode, and its semantic term."""

    def __init__(self, tau: torch.Tensor, is_causal: bool, width: int = 16):
        super().__init__()
        self.is_causal = is_causal
        config = SimpleNamespace(
            num_attention_heads=tau.numel(), semantic_per_head=True, semantic_tau_init=0.0, semantic_eps=1e-6
        )
        self.semantic_tau = SemanticTerm(SimpleNamespace(**vars(config), hidden_size=width))
        self.semantic_tau.weight = nn.Parameter(tau)

    def call(self, function, query, key, value, mask, *, scaling, x_query, x_key):
        self.num_key_value_groups = query.shape[1] // key.shape[1]  # as Llama-family layers have it
        return function(
            self,
            query,
            key,
            value,
            mask,
            scaling=scaling,
            dropout=0.0,
            terms=[self.semantic_tau],
            query_features=x_query,
            key_features=x_key,
        )


FUNCTIONS = {**REFERENCE_PATHS, "semantic_triton": semantic_fused_attention}


def _inputs(seed, batch=2, heads=4, kv_heads=2, q_len=6, k_len=6, head_dim=8, width=16):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)  # noqa: E731
    return dict(
        query=r(batch, heads, q_len, head_dim),
        key=r(batch, kv_heads, k_len, head_dim),
        value=r(batch, kv_heads, k_len, head_dim),
        x_query=unit_normalize(r(batch, q_len, width)),
        x_key=unit_normalize(r(batch, k_len, width)),
        tau=r(heads),
    )


def _masks(batch, q_len, k_len):
    padding = torch.ones(batch, 1, q_len, k_len, dtype=torch.bool)
    padding[0, ..., :2] = False  # left padding of the first sequence
    padding_and_causal = padding & causal_mask(q_len, k_len, "cpu")
    # Transformers' eager masks are additive: 0 = attend, the dtype's min = masked.
    additive = torch.zeros(padding_and_causal.shape, dtype=torch.float64)
    additive = additive.masked_fill(~padding_and_causal, torch.finfo(torch.float64).min)
    return {"none": None, "padding": padding, "padding_and_causal": padding_and_causal, "additive": additive}


def _reference(inputs, mask, is_causal, scaling):
    repeat = inputs["query"].shape[1] // inputs["key"].shape[1]
    out, _ = semantic_attention_naive(
        inputs["query"],
        inputs["key"].repeat_interleave(repeat, 1),
        inputs["value"].repeat_interleave(repeat, 1),
        inputs["x_query"],
        inputs["x_key"],
        inputs["tau"],
        scaling=scaling,
        attention_mask=mask,
        is_causal=is_causal,
    )
    return out.transpose(1, 2)


@pytest.mark.parametrize("function", list(FUNCTIONS.values()), ids=list(FUNCTIONS))
@pytest.mark.parametrize("mask_name", ["none", "padding", "padding_and_causal", "additive"])
@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("q_len,k_len", [(6, 6), (1, 7), (3, 9)])
def test_attention_function_matches_reference(function, mask_name, is_causal, q_len, k_len):
    inputs = _inputs(seed=q_len * 31 + k_len, q_len=q_len, k_len=k_len)
    mask = _masks(2, q_len, k_len)[mask_name]
    scaling = 8**-0.5
    expected = _reference(inputs, mask, is_causal, scaling)

    module = SemanticLayerStub(inputs["tau"], is_causal)
    actual, _ = module.call(
        function,
        inputs["query"],
        inputs["key"],
        inputs["value"],
        mask,
        scaling=scaling,
        x_query=inputs["x_query"],
        x_key=inputs["x_key"],
    )
    torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)

    grad_output = torch.randn_like(expected)  # (batch, Lq, heads, head_dim)
    if mask is not None:
        # A query that may see no key at all (left padding under causality) has no meaningful output; paths differ
        # in whether such a row passes gradient to the bias (Transformers' SDPA masks it out), so it carries none.
        sees_nothing = ~(mask if mask.dtype == torch.bool else mask == 0).any(-1)  # (batch, 1, Lq)
        grad_output = grad_output.masked_fill(sees_nothing.transpose(1, 2)[..., None], 0.0)
    names = ["query", "key", "value", "x_query", "x_key"]
    expected_grads = torch.autograd.grad(expected, [inputs[n] for n in names] + [inputs["tau"]], grad_output)
    actual_grads = torch.autograd.grad(actual, [inputs[n] for n in names] + [module.semantic_tau.weight], grad_output)
    for name, e, a in zip(names + ["tau"], expected_grads, actual_grads):
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-10, msg=name)


def test_naive_is_the_design_formula_written_out():
    """logits = s q·k + tau_h cos(x_i, x_j): checked entry by entry with loops, no shared helper."""
    inputs = _inputs(seed=5, batch=1, heads=2, kv_heads=2, q_len=3, k_len=3)
    q, k, v, xq, xk, tau = (inputs[n].detach() for n in ("query", "key", "value", "x_query", "x_key", "tau"))
    scaling = 0.3
    _, probabilities = semantic_attention_naive(q, k, v, xq, xk, tau, scaling=scaling)
    for h in range(2):
        for i in range(3):
            logits = torch.stack(
                [
                    scaling * q[0, h, i] @ k[0, h, j] + tau[h] * torch.cosine_similarity(xq[0, i], xk[0, j], dim=0)
                    for j in range(3)
                ]
            )
            torch.testing.assert_close(probabilities[0, h, i], torch.softmax(logits, dim=0))


def test_tau_zero_is_stock_sdpa():
    inputs = {k: v.detach() for k, v in _inputs(seed=3, kv_heads=4).items()}
    module = SemanticLayerStub(torch.zeros(4, dtype=torch.float64), is_causal=True)
    actual, _ = module.call(
        REFERENCE_PATHS["sdpa"],
        inputs["query"],
        inputs["key"],
        inputs["value"],
        None,
        scaling=0.25,
        x_query=inputs["x_query"],
        x_key=inputs["x_key"],
    )
    expected = torch.nn.functional.scaled_dot_product_attention(
        inputs["query"], inputs["key"], inputs["value"], is_causal=True, scale=0.25
    ).transpose(1, 2)
    torch.testing.assert_close(actual, expected)


def test_a_layer_without_terms_gets_plain_attention():
    inputs = {k: v.detach() for k, v in _inputs(seed=4, kv_heads=4).items()}
    module = nn.Module()
    module.is_causal, module.num_key_value_groups = False, 1
    outputs = []
    for key in ("eager", "sdpa", "semantic_triton"):
        function = design_attention_function(key, [])
        args = (module, inputs["query"], inputs["key"], inputs["value"], None)
        outputs.append(function(*args, scaling=0.25, dropout=0.0, terms=[], query_features=None, key_features=None))
    expected = torch.nn.functional.scaled_dot_product_attention(
        inputs["query"], inputs["key"], inputs["value"], scale=0.25
    ).transpose(1, 2)
    for output, _ in outputs:
        torch.testing.assert_close(output, expected)


@pytest.mark.parametrize("width", [8, 7])  # 7: not a multiple of the KV heads, padded inside the cache
def test_features_ride_in_the_kv_cache(width):
    cache = DynamicCache()
    batch, kv_heads, head_dim = 2, 2, 4
    keys, values, semantics = [], [], []
    for length in (5, 1, 1):  # prefill, then two decoding steps
        k, v = torch.randn(batch, kv_heads, length, head_dim), torch.randn(batch, kv_heads, length, head_dim)
        x = unit_normalize(torch.randn(batch, length, width))
        all_k, all_v, all_x = update_cache_with_features(cache, k, v, x, layer_idx=0)
        keys.append(k), values.append(v), semantics.append(x)
        torch.testing.assert_close(all_k, torch.cat(keys, dim=2))
        torch.testing.assert_close(all_v, torch.cat(values, dim=2))
        torch.testing.assert_close(all_x, torch.cat(semantics, dim=1))
    assert cache.get_seq_length() == 7
    cache.crop(-1)  # drop the last token, as assisted decoding does
    _, _, cropped = update_cache_with_features(
        cache,
        torch.zeros(batch, kv_heads, 1, head_dim),
        torch.zeros(batch, kv_heads, 1, head_dim),
        torch.zeros(batch, 1, width),
        layer_idx=0,
    )
    torch.testing.assert_close(cropped[:, :6], torch.cat(semantics, dim=1)[:, :6])
