"""`attn_implementation="semantic_triton"`: the fused Triton kernel of `kernel.py` where it can run, else the
reference SDPA path (same function, O(heads · L²) memory) with a one-time message.

The kernel runs on CUDA in bf16/fp16 without dropout, for masks it can express: causal or not, a sliding window, and
padding of keys (left or right); on the CPU under TRITON_INTERPRET=1 (CI) it runs in the interpreter, float64 aside.
Anything else (float32 on CUDA, CPU without the interpreter, packed-sequence masks) takes the reference path.
"""

import torch
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.utils import logging

from ...core.attention import sdpa_attention, term_biases
from ...core.flash import TRITON_AVAILABLE, key_padding_from_mask
from .kernel import kernel_runs_on, semantic_attention_fused  # imports without Triton too


logger = logging.get_logger(__name__)

FUSED_KERNEL_KEY = "semantic_triton"


# Transformers builds masks per key from its global mask table (an unknown key silently gets no mask). Only the
# mask function is registered: stock models still refuse the key, since no global *attention* function has it.
AttentionMaskInterface.register(FUSED_KERNEL_KEY, sdpa_mask)


def semantic_fused_attention(
    module, query, key, value, attention_mask, *, scaling, dropout, terms, query_features, key_features, **kwargs
):
    """The fused kernel for one semantic term, or the reference SDPA path where the kernel cannot run."""
    (term,) = terms
    sliding_window = kwargs.get("sliding_window")
    is_causal = getattr(module, "is_causal", False)
    key_padding = None
    query_length = query.shape[2]
    if attention_mask is None and is_causal and 1 < query_length < key.shape[2]:
        # No mask on a causal layer is torch SDPA's top-left `is_causal` (the kernel aligns bottom-right): the prefill
        # of an empty static cache, whose keys past the queries are empty slots. Stock SDPA drops them likewise.
        key, value, key_features = key[:, :, :query_length], value[:, :, :query_length], key_features[:, :query_length]
    runnable = (
        kernel_runs_on(query)
        # float64 keeps the reference path (the interpreter would run it, but the kernels accumulate in float32).
        and query.dtype != torch.float64
        and dropout == 0.0
        and query_length > 1  # decoding one token: the SDPA path is as fast
    )
    if runnable and attention_mask is not None:
        key_padding = key_padding_from_mask(attention_mask, is_causal=is_causal, sliding_window=sliding_window)
        runnable = key_padding is not None
    if not runnable:
        if not TRITON_AVAILABLE:
            logger.warning_once(
                f"attn_implementation='{FUSED_KERNEL_KEY}': Triton is not installed; running the reference SDPA path "
                "(same function, O(heads · L²) memory)."
            )
        bias = term_biases(terms, query_features, key_features, query.dtype)
        return sdpa_attention(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, bias=bias)
    output = semantic_attention_fused(
        query,
        key,
        value,
        query_features,
        key_features,
        term("coefficients"),
        scaling=scaling,
        is_causal=is_causal,
        key_padding_mask=key_padding,
        sliding_window=sliding_window,
    )
    return output.transpose(1, 2).contiguous(), None
