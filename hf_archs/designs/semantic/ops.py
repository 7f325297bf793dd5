"""Semantic attention ops: `naive.py` is the reference; `attention.py` the attention-interface paths."""

from .attention import (
    FUSED_KERNEL_KEY,
    SEMANTIC_ATTENTION_FUNCTIONS,
    DesignAttentionInterface,
    semantic_eager_attention,
    semantic_fused_attention,
    semantic_sdpa_attention,
)
from .naive import cosine_similarity_matrix, semantic_attention_naive, unit_normalize


__all__ = [
    "DesignAttentionInterface",
    "FUSED_KERNEL_KEY",
    "SEMANTIC_ATTENTION_FUNCTIONS",
    "cosine_similarity_matrix",
    "semantic_attention_naive",
    "semantic_eager_attention",
    "semantic_fused_attention",
    "semantic_sdpa_attention",
    "unit_normalize",
]
