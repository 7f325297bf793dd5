"""The resonance score: its properties (range, symmetry, self-similarity, empty intersection, quaternion signs) on the
float64 reference, and the fast forms against the reference on fresh random inputs, outputs and gradients."""

import math

import pytest
import torch

from hf_archs.designs.resonant.naive import (
    CHANNELS_PER_SLOT,
    resonance_abs_chunked,
    resonance_inner_product,
    resonance_naive,
    slot_states,
    straight_through_top_k,
)


HEADS, SLOTS, TOP_K = 3, 8, 3
WEIGHTS = (0.2, 0.5, 0.3)
FAST_FORMS = {"abs": (resonance_abs_chunked, False), "squared": (resonance_inner_product, True)}


def random_features(seed, batch=2, length=7, slots=SLOTS, heads=HEADS):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, length, heads * slots * CHANNELS_PER_SLOT)
    return torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)


def states(features, top_k=TOP_K):
    return slot_states(features, HEADS, top_k)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_range_symmetry_and_self_similarity(seed, squared):
    a, b = states(random_features(seed)), states(random_features(seed + 100))
    score = resonance_naive(a, b, WEIGHTS, squared)
    assert score.min() >= 0 and score.max() <= 1 + 1e-12
    assert score.std() > 0.05  # not a constant: the property checks below mean something
    torch.testing.assert_close(score, resonance_naive(b, a, WEIGHTS, squared).transpose(-1, -2), rtol=0, atol=1e-14)
    self_score = resonance_naive(a, a, WEIGHTS, squared)
    diagonal = self_score.diagonal(dim1=-2, dim2=-1)
    torch.testing.assert_close(diagonal, torch.ones_like(diagonal), rtol=0, atol=1e-12)
    off_diagonal = ~torch.eye(self_score.shape[-1], dtype=torch.bool)
    assert (self_score[..., off_diagonal] < 1 - 1e-6).all()  # distinct random tokens are not self-similar


def test_known_value():
    """One pair worked by hand: A_i = {0, 1}, A_j = {1, 2}, so J = 1/3 and Q, Phi come from slot 1 alone."""
    features = torch.zeros(1, 2, 1, 4, CHANNELS_PER_SLOT, dtype=torch.float64)
    features[0, 0, 0, :, 0] = torch.tensor([3.0, 2.0, -1.0, -2.0])
    features[0, 1, 0, :, 0] = torch.tensor([-1.0, 2.0, 3.0, -2.0])
    features[..., 1] = 1.0  # every quaternion starts as (1, 0, 0, 0) ...
    features[0, 0, 0, 1, 1:5] = torch.tensor([1.0, 1.0, 1.0, 1.0])  # ... but slot 1 of token 0: (1, 1, 1, 1) / 2
    features[0, 0, 0, 1, 5], features[0, 1, 0, 1, 5] = 0.25, 1.25  # phases of slot 1
    state = slot_states(features.view(1, 2, -1), num_heads=1, top_k=2)
    a, b, c = WEIGHTS
    for squared, alignment in ((False, 0.5), (True, 0.25)):
        expected = a / 3 + b * alignment + c * (math.cos(1.0) + 1) / 2
        score = resonance_naive(state, state, WEIGHTS, squared)[0, 0]
        assert score[0, 1].item() == pytest.approx(expected, abs=1e-14)
        assert score[1, 0].item() == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize("form", sorted(FAST_FORMS))
def test_empty_intersection_scores_zero(form):
    """Tokens whose active sets are disjoint get Res = a · J = 0, whatever their quaternions and phases."""
    features = random_features(0, batch=1, length=4).detach().view(1, 4, HEADS, SLOTS, CHANNELS_PER_SLOT)
    features[:, :2, :, :, 0] = torch.tensor([9.0, 9, 9, -9, -9, -9, -9, -9], dtype=torch.float64)  # slots 0-2
    features[:, 2:, :, :, 0] = torch.tensor([-9.0, -9, -9, -9, -9, 9, 9, 9], dtype=torch.float64)  # slots 5-7
    state = states(features.view(1, 4, -1))
    fast, squared = FAST_FORMS[form]
    for score in (resonance_naive(state, state, WEIGHTS, squared), fast(state, state, WEIGHTS)):
        assert torch.equal(score[..., :2, 2:], torch.zeros_like(score[..., :2, 2:]))
        assert (score[..., :2, :2] >= WEIGHTS[0]).all()  # same active sets: J = 1


@pytest.mark.parametrize("squared", [False, True])
def test_quaternion_sign_invariance(squared):
    features = random_features(1)
    flipped = features.detach().view(*features.shape[:2], HEADS, SLOTS, CHANNELS_PER_SLOT).clone()
    signs = torch.randint(0, 2, flipped.shape[:-1], generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert (signs < 0).any() and (signs > 0).any()
    flipped[..., 1:5] *= signs[..., None].to(flipped.dtype)
    before = resonance_naive(states(features), states(features), WEIGHTS, squared)
    after = resonance_naive(states(flipped.view_as(features)), states(flipped.view_as(features)), WEIGHTS, squared)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-14)


def test_straight_through_top_k():
    """Forward: exactly k ones per row. Backward: the sigmoid's derivative, slot by slot."""
    logits = torch.randn(5, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    mask = straight_through_top_k(logits, 4)
    assert set(mask.unique().tolist()) == {0.0, 1.0} and (mask.sum(-1) == 4).all()
    assert torch.equal(mask.bool(), logits >= logits.topk(4, dim=-1).values[:, -1:])
    upstream = torch.randn(5, 9, dtype=torch.float64)
    (gradient,) = torch.autograd.grad((mask * upstream).sum(), logits)
    sigmoid = torch.sigmoid(logits.detach())
    torch.testing.assert_close(gradient, upstream * sigmoid * (1 - sigmoid))


@pytest.mark.parametrize("form", sorted(FAST_FORMS))
@pytest.mark.parametrize("seed", range(3))
def test_fast_forms_match_the_reference(form, seed):
    """Outputs and gradients (slot logits, quaternions and phases through the features) in float64, with query and
    key sides of different lengths (a KV cache)."""
    fast, squared = FAST_FORMS[form]
    query_features, key_features = random_features(seed, length=5), random_features(seed + 50, length=9)
    upstream = torch.randn(2, HEADS, 5, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    results = []
    for score in (lambda q, k: resonance_naive(q, k, WEIGHTS, squared), lambda q, k: fast(q, k, WEIGHTS)):
        output = score(states(query_features), states(key_features))
        results.append((output, *torch.autograd.grad((output * upstream).sum(), (query_features, key_features))))
    (expected, *expected_grads), (actual, *actual_grads) = results
    torch.testing.assert_close(actual, expected, rtol=1e-12, atol=1e-12)
    for name, a, e in zip(("query", "key"), actual_grads, expected_grads):
        assert e.abs().max() > 1e-3, name  # the gradient reaches the features
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12, msg=name)
    # Every channel of a slot gets gradient: slot logits (straight-through), quaternions and phases.
    channels = expected_grads[0].view(2, 5, HEADS, SLOTS, CHANNELS_PER_SLOT).abs().sum(dim=(0, 1, 2, 3))
    assert (channels > 0).all(), channels
