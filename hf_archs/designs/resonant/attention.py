"""`attn_implementation="resonant_triton"`: the fused Triton kernel of `kernel.py` for the squared form.

The kernel runs on CUDA (or on CPU under TRITON_INTERPRET=1) without dropout, for masks it can express: causal or
not, a sliding window, and padding of keys (left or right). The "abs" form has no kernel: this key refuses it. Any
other case (no Triton, dropout, packed-sequence masks) takes the reference SDPA path with a one-time warning saying
why (same function, O(heads · L²) memory).
"""

from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.utils import logging

from ...core.attention import REFERENCE_PATHS
from ...core.flash import TRITON_AVAILABLE, interpreting, key_padding_from_mask
from .kernel import kernel_features, resonant_attention_fused
from .naive import slot_states


logger = logging.get_logger(__name__)

FUSED_KERNEL_KEY = "resonant_triton"


# Transformers builds masks per key from its global mask table (an unknown key silently gets no mask). Only the
# mask function is registered: stock models still refuse the key, since no global *attention* function has it.
AttentionMaskInterface.register(FUSED_KERNEL_KEY, sdpa_mask)


def _why_not_runnable(query, dropout) -> str | None:
    if not TRITON_AVAILABLE:
        return "Triton is not installed"
    if not (query.is_cuda or interpreting()):
        return "the tensors are on the CPU (the kernel runs there only under TRITON_INTERPRET=1)"
    if dropout:
        return "the kernel has no attention dropout"
    return None


def _kernel_features(term, features):
    return kernel_features(slot_states(features, term.num_heads, term.top_k, term.eps), term.weights)


def resonant_fused_attention(
    module, query, key, value, attention_mask, *, scaling, dropout, terms, query_features, key_features, **kwargs
):
    """The fused kernel for one resonant term (hybrid or pure), or the reference SDPA path where it cannot run."""
    (term,) = terms
    if not term.squared:
        raise ValueError(
            f"attn_implementation='{FUSED_KERNEL_KEY}' computes the squared form only "
            "(resonant_quaternion='squared'); the 'abs' form runs under 'eager' or 'sdpa'."
        )
    sliding_window = kwargs.get("sliding_window")
    is_causal = getattr(module, "is_causal", False)
    query_length = query.shape[2]
    if attention_mask is None and is_causal and 1 < query_length < key.shape[2]:
        # No mask on a causal layer is torch SDPA's top-left `is_causal` (the kernel aligns bottom-right): the prefill
        # of an empty static cache, whose keys past the queries are empty slots. Stock SDPA drops them likewise.
        key, value, key_features = key[:, :, :query_length], value[:, :, :query_length], key_features[:, :query_length]
    reason = _why_not_runnable(query, dropout)
    key_padding = None
    if reason is None and attention_mask is not None:
        key_padding = key_padding_from_mask(attention_mask, is_causal=is_causal, sliding_window=sliding_window)
        if key_padding is None:
            reason = "the attention mask is not padding, causal and window alone (e.g. packed sequences)"
    if reason is not None:
        logger.warning_once(
            f"attn_implementation='{FUSED_KERNEL_KEY}' runs the reference SDPA path here: {reason} "
            "(same function, O(heads · L²) memory)."
        )
        term_inputs = dict(terms=terms, query_features=query_features, key_features=key_features)
        return REFERENCE_PATHS["sdpa"](
            module, query, key, value, attention_mask, **term_inputs, scaling=scaling, dropout=dropout
        )
    query_side = _kernel_features(term, query_features)
    # No cache: one sequence on both sides, its features made (and kept for the backward) once.
    key_side = query_side if key_features is query_features else _kernel_features(term, key_features)
    pure = term.replaces_query_key
    output = resonant_attention_fused(
        None if pure else query,
        None if pure else key,
        value,
        *query_side,
        *key_side,
        term("coefficients"),
        term.weights,
        scaling=scaling,
        is_causal=is_causal,
        key_padding_mask=key_padding,
        sliding_window=sliding_window,
    )
    return output.transpose(1, 2).contiguous(), None
