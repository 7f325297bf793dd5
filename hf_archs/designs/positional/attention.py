"""`attn_implementation="positional_triton"`: the relative position biases (alibi, t5, relative) through the fused
distance-bias kernel of `kernel.py`, with no (batch, heads, L, L) tensor.

The kernel runs on CUDA in any float dtype, and on the CPU under TRITON_INTERPRET=1, for the masks it can express:
causal or not, a sliding window, padding of keys (left or right), queries the last Lq of Lk keys (a KV cache).
Where it cannot run (CPU without the interpreter, no Triton, attention dropout in training, another mask such as
packed sequences or the prefill of a static cache with padding), the layer takes the reference SDPA path (same
function, O(heads · L²) memory) and says so once, with the reason: never silently.
"""

from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.utils import logging

from ...core.attention import POSITION_FEATURES, decode_positions, sdpa_attention, term_biases
from ...core.flash import key_padding_from_mask
from .kernel import TRITON_AVAILABLE, distance_bias_attention, kernel_runs_on


logger = logging.get_logger(__name__)

FUSED_KERNEL_KEY = "positional_triton"

# Transformers builds masks per key from its global mask table (an unknown key silently gets no mask). Only the mask
# function is registered: stock models still refuse the key, since no global *attention* function has it.
AttentionMaskInterface.register(FUSED_KERNEL_KEY, sdpa_mask)


def _key_padding(attention_mask, batch, *, is_causal, sliding_window):
    """(batch, Lk) keys to keep, or None for a mask the kernel cannot express (raises nothing)."""
    keep = attention_mask.expand(batch, *attention_mask.shape[1:])
    return key_padding_from_mask(keep, is_causal=is_causal, sliding_window=sliding_window)


def positional_fused_attention(
    module, query, key, value, attention_mask, *, scaling, dropout, terms, query_features, key_features, **kwargs
):
    """The fused kernel for one relative position bias, or the reference SDPA path (with a message) where it cannot
    run."""
    (term,) = terms
    sliding_window = kwargs.get("sliding_window")
    is_causal = getattr(module, "is_causal", False)
    query_length = query.shape[2]
    if attention_mask is None and is_causal and 1 < query_length < key.shape[2]:
        # No mask on a causal layer is torch SDPA's top-left `is_causal` (the kernel aligns bottom-right): the prefill
        # of an empty static cache, whose keys past the queries are empty slots. Stock SDPA drops them likewise.
        key, value, key_features = key[:, :, :query_length], value[:, :, :query_length], key_features[:, :query_length]
    reason, key_padding = None, None
    if not kernel_runs_on(query):
        reason = "Triton is not installed" if not TRITON_AVAILABLE else "no CUDA device and TRITON_INTERPRET is not 1"
    elif dropout:
        reason = "the kernel has no attention dropout"
    elif attention_mask is not None:
        key_padding = _key_padding(attention_mask, query.shape[0], is_causal=is_causal, sliding_window=sliding_window)
        if key_padding is None:
            reason = "the mask is not padding, causal and window alone (e.g. packed sequences)"
    if reason is not None:
        logger.warning_once(
            f"attn_implementation='{FUSED_KERNEL_KEY}': {reason}; running the reference SDPA path (same function, "
            "O(heads · L²) memory)."
        )
        bias = term_biases(terms, query_features, key_features, query.dtype)
        return sdpa_attention(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, bias=bias)
    mode, d_lo, d_hi = term.kernel_form()
    output = distance_bias_attention(
        query,
        key,
        value,
        decode_positions(query_features[..., :POSITION_FEATURES]),
        decode_positions(key_features[..., :POSITION_FEATURES]),
        term("coefficients", query_features),
        mode=mode,
        d_lo=d_lo,
        d_hi=d_hi,
        scaling=scaling,
        is_causal=is_causal,
        key_padding_mask=key_padding,
        sliding_window=sliding_window,
    )
    return output.transpose(1, 2).contiguous(), None
