"""Resonance scores: the per-token sparse slot states, the reference score, and two fast forms.

Per head, a token i is a state over P slots: an active set A_i (the top-k of its P slot logits), and for each slot p
a unit quaternion q_ip (4 components) and a phase phi_ip. Between two tokens:

    Res(i, j) = a · J + b · Q + c · Phi,        a + b + c = 1, a, b, c ≥ 0
    J   = |A_i ∩ A_j| / |A_i ∪ A_j|
    Q   = mean over p ∈ A_i ∩ A_j of |q_ip · q_jp|          ("abs", the definition)
          or of (q_ip · q_jp)²                             ("squared", a variant with the same properties)
    Phi = (mean over p ∈ A_i ∩ A_j of cos(phi_ip − phi_jp) + 1) / 2
    Res = a · J = 0 when the intersection is empty.

With m_i ∈ {0, 1}^P the indicator of A_i every sum over the intersection is a sum over slots of products of
per-token features:

    |A_i ∩ A_j| = ⟨m_i, m_j⟩,   |A_i ∪ A_j| = |A_i| + |A_j| − ⟨m_i, m_j⟩ = 2k − ⟨m_i, m_j⟩
    Σ cos(phi_ip − phi_jp) = ⟨m_i cos phi_i, m_j cos phi_j⟩ + ⟨m_i sin phi_i, m_j sin phi_j⟩
    Σ (q_ip · q_jp)² = ⟨m_i ⊗ sym(q_i), m_j ⊗ sym(q_j)⟩,  sym(q) = (q_a², √2 q_a q_b for a < b): 10 components

so the squared variant of a whole (Lq, Lk) score is three matmuls per head (`resonance_inner_product`); only |q·q'|
is not an inner product, and `resonance_abs_chunked` sums it one slot at a time, never holding (Lq, Lk, P).
`resonance_naive` materializes (Lq, Lk, P) and is the float64 reference both are checked against.

Gradient estimator of the active set (top-k has no gradient): straight-through with the sigmoid of the slot logits,
m = topk_indicator(l) + sigmoid(l) − stop_gradient(sigmoid(l)). The forward value is exactly the 0/1 indicator
(the added difference is exactly zero); the backward treats ∂m_p/∂l_p as sigmoid'(l_p). So J, the set sizes and the
intersection means all pass gradients to the slot logits (J alone would have none).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


# Channels of one slot in a token's projected features: slot logit, 4 quaternion components, phase.
CHANNELS_PER_SLOT = 6
_QUATERNION_PAIRS = [(a, b) for a in range(4) for b in range(a, 4)]  # the 10 products q_a q_b, a <= b


@dataclass
class SlotStates:
    """Per-head slot states of a sequence. mask (batch, heads, L, P) 0/1 with straight-through gradients;
    quaternion (batch, heads, L, P, 4) unit; phase (batch, heads, L, P)."""

    mask: torch.Tensor
    quaternion: torch.Tensor
    phase: torch.Tensor


def straight_through_top_k(slot_logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """The 0/1 indicator of the top-k slots (last dim), with sigmoid(logits) straight-through gradients."""
    # A sum of one-hots (the k indices are distinct), not scatter into zeros: Inductor (torch 2.13, CPU) miscompiled
    # that scatter in the compiled static-cache decoding step (logits off by 0.06; exact with fusion off).
    top = slot_logits.topk(top_k, dim=-1).indices
    hard = F.one_hot(top, slot_logits.shape[-1]).sum(-2).to(slot_logits.dtype)
    soft = torch.sigmoid(slot_logits)
    return hard + (soft - soft.detach())


def slot_states(features: torch.Tensor, num_heads: int, top_k: int, eps: float = 1e-6) -> SlotStates:
    """(batch, L, heads · P · 6) projected features -> the `SlotStates` (in at least float32)."""
    batch, length, width = features.shape
    features = features.to(torch.promote_types(features.dtype, torch.float32))
    per_slot = features.view(batch, length, num_heads, -1, CHANNELS_PER_SLOT).transpose(1, 2)
    quaternion = per_slot[..., 1:5]
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(eps)
    return SlotStates(straight_through_top_k(per_slot[..., 0], top_k), quaternion, per_slot[..., 5])


def combine(intersection, union, quaternion_sum, phase_sum, weights) -> torch.Tensor:
    """Res from the slot sums over the intersection (all broadcast to (batch, heads, Lq, Lk)).

    The intersection holds whole numbers in the forward (0/1 masks); an empty one gives Res = a · J = 0.
    """
    a, b, c = weights
    nonempty = intersection > 0.5
    count = torch.where(nonempty, intersection, torch.ones_like(intersection))
    jaccard = intersection / union
    aligned = b * quaternion_sum / count + c * (phase_sum / count + 1) / 2
    return a * jaccard + torch.where(nonempty, aligned, torch.zeros_like(aligned))


def resonance_naive(query: SlotStates, key: SlotStates, weights, squared: bool = False) -> torch.Tensor:
    """Res (batch, heads, Lq, Lk), every (Lq, Lk, P) intermediate materialized: the reference."""
    both = query.mask[:, :, :, None, :] * key.mask[:, :, None, :, :]  # (batch, heads, Lq, Lk, P)
    dot = (query.quaternion[:, :, :, None] * key.quaternion[:, :, None, :]).sum(-1)
    alignment = dot.square() if squared else dot.abs()
    coherence = torch.cos(query.phase[:, :, :, None, :] - key.phase[:, :, None, :, :])
    intersection = both.sum(-1)
    union = query.mask.sum(-1)[..., :, None] + key.mask.sum(-1)[..., None, :] - intersection
    return combine(intersection, union, (both * alignment).sum(-1), (both * coherence).sum(-1), weights)


def _set_sums(query: SlotStates, key: SlotStates):
    """Intersection, union and the phase sum over the intersection, as matmuls of per-token features."""
    intersection = query.mask @ key.mask.transpose(-1, -2)
    union = query.mask.sum(-1)[..., :, None] + key.mask.sum(-1)[..., None, :] - intersection

    def phasors(states):  # (batch, heads, L, 2P): m cos phi, m sin phi
        return torch.cat([states.mask * torch.cos(states.phase), states.mask * torch.sin(states.phase)], dim=-1)

    phase_sum = phasors(query) @ phasors(key).transpose(-1, -2)
    return intersection, union, phase_sum


def symmetric_products(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) -> (..., 10) with ⟨sym(q), sym(q')⟩ = (q · q')²: q_a² and √2 q_a q_b for a < b."""
    products = [quaternion[..., a] * quaternion[..., b] * (1.0 if a == b else 2**0.5) for a, b in _QUATERNION_PAIRS]
    return torch.stack(products, dim=-1)


def resonance_inner_product(query: SlotStates, key: SlotStates, weights) -> torch.Tensor:
    """The squared variant of Res as three matmuls of per-token features; memory O(batch · heads · Lq · Lk)."""
    intersection, union, phase_sum = _set_sums(query, key)

    def aligned(states):  # (batch, heads, L, 10P): m_p · sym(q_p)
        return (states.mask[..., None] * symmetric_products(states.quaternion)).flatten(-2)

    quaternion_sum = aligned(query) @ aligned(key).transpose(-1, -2)
    return combine(intersection, union, quaternion_sum, phase_sum, weights)


def _slot_alignment(query_mask, query_quaternion, key_mask, key_quaternion):
    """m_ip m_jp |q_ip · q_jp| of one slot: (batch, heads, Lq, Lk)."""
    dot = query_quaternion @ key_quaternion.transpose(-1, -2)
    return query_mask[..., :, None] * key_mask[..., None, :] * dot.abs()


def resonance_abs_chunked(query: SlotStates, key: SlotStates, weights) -> torch.Tensor:
    """Res with the defining |q · q'|, summed one slot at a time: O(batch · heads · Lq · Lk) memory.

    Each slot's term is recomputed in the backward (activation checkpointing) rather than kept, so training also
    never holds (Lq, Lk, P).
    """
    intersection, union, phase_sum = _set_sums(query, key)
    recompute = torch.is_grad_enabled() and (query.quaternion.requires_grad or key.quaternion.requires_grad)
    quaternion_sum = torch.zeros_like(intersection)
    for p in range(query.mask.shape[-1]):
        slot = (query.mask[..., p], query.quaternion[..., p, :], key.mask[..., p], key.quaternion[..., p, :])
        if recompute:
            term = checkpoint(_slot_alignment, *slot, use_reentrant=False)
        else:
            term = _slot_alignment(*slot)
        quaternion_sum = quaternion_sum + term
    return combine(intersection, union, quaternion_sum, phase_sum, weights)
