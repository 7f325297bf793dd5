"""Attention designs as terms on the logits, behind Transformers' `attn_implementation` hook.

A logit term adds a per-head bias built from per-token features of the attention input x:

    logits_h(i, j) = scaling · q_h(i)·k_h(j) + Σ_terms bias_h(features_i, features_j) + mask(i, j)

- `LogitTerm`: the module a design attaches to an attention layer (its parameters, its features, its bias).
- `DesignAttention`: mixed before a stock attention class by a backbone adapter, which says how q, k, v are made
  from x; the rest (features, the KV cache, dispatch) is written once here.
- `reference_attention` (eager: every intermediate materialized, attention weights returned) and `sdpa_attention`
  (torch SDPA with the bias folded into a float mask) compute any set of terms; a term may add fused
  kernels under keys of its own (`LogitTerm.kernels`).
- Features of past tokens ride in the KV cache, appended to the key head dim (`update_cache_with_features`), so
  every cache operation (crop, beam reorder, static and sliding-window layers) keeps them aligned for free. They are
  stored in the keys' dtype: a term that puts token positions among its features writes them with
  `encode_positions` and reads them with `decode_positions`, which stay exact in bfloat16.
"""

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers.integrations.flex_attention import flex_attention_forward
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from .compat import pop_cache_argument
from .inputs import TOKEN_POSITIONS_KWARG
from .masks import layer_attention_mask


# A position p among a term's features: ⌊p / 256⌋, ⌊p⌋ mod 256 and p − ⌊p⌋, three numbers that bfloat16 (8
# significant bits: integers exact up to 256 only) and float16 hold exactly for integer p in [−2^16, 2^16).
POSITION_FEATURES = 3
POSITION_BASE = 256
MAX_EXACT_POSITION = POSITION_BASE**2


def encode_positions(positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(...) float positions -> (..., 3) features in `dtype`, read back by `decode_positions`.

    Integer positions in [−2^16, 2^16) come back exactly from features in bfloat16, float16 or any wider dtype; the
    positions of 16-bit features (or of features cast to 16-bit keys under autocast) outside that range are refused.
    A fractional part is stored as a number in [0, 1) and keeps that dtype's precision there: within 2^-9 in
    bfloat16, 2^-12 in float16, 2^-25 in float32, exact in float64 (then `decode_positions` adds float32's rounding of
    the sum, 2^-24·|p|, unless the features are float64). The features are differentiable in p (through the fraction:
    decoding gives ∂p/∂p = 1).
    """
    positions = positions.to(torch.promote_types(positions.dtype, torch.float32))
    if _stored_in_16_bits(dtype, positions.device) and not torch.compiler.is_compiling():
        if bool(((positions < -MAX_EXACT_POSITION) | (positions >= MAX_EXACT_POSITION)).any()):
            raise ValueError(
                f"Token positions ride in the KV cache in 16 bits here, exact in [{-MAX_EXACT_POSITION}, "
                f"{MAX_EXACT_POSITION}); got positions in [{positions.min().item():g}, {positions.max().item():g}]."
            )
    integer = positions.floor()
    high = torch.div(integer, POSITION_BASE, rounding_mode="floor")
    parts = [high, integer - POSITION_BASE * high, positions - integer]
    return torch.stack(parts, dim=-1).to(dtype)


def decode_positions(features: torch.Tensor) -> torch.Tensor:
    """(..., 3) features of `encode_positions` -> (...) positions in float32 (float64 for float64 features)."""
    features = features.to(torch.promote_types(features.dtype, torch.float32))
    return features[..., 0] * POSITION_BASE + features[..., 1] + features[..., 2]


def _stored_in_16_bits(dtype: torch.dtype, device: torch.device) -> bool:
    """Whether features of `dtype` may end up in a 16-bit cache: the keys are in autocast's dtype when it is on."""
    if torch.is_autocast_enabled(device.type):
        dtype = torch.get_autocast_dtype(device.type)
    return torch.finfo(dtype).bits <= 16


class LogitTerm(nn.Module):
    """A design's additive term on one layer's attention logits.

    Subclasses set `num_features` in `__init__` and define `features` (per-token, from the attention input),
    `bias` (the (batch, heads or 1, Lq, Lk) term from query- and key-side features) and `init_design_weights`.
    `kernels` maps extra `attn_implementation` keys to fused functions, called like the functions of
    `design_attention_function`.
    """

    # Marks modules holding a design's new parameters (weight init, conversion, LoRA `modules_to_save`).
    hf_archs_design_module = True
    kernels: dict[str, Callable] = {}
    num_features: int
    # True for a term that replaces q·k: the layer's logits are then the terms' biases alone (plus the mask).
    replaces_query_key: bool = False
    # True for a term whose features read the tokens' positions: `features(hidden_states, positions)`.
    uses_positions: bool = False

    def features(self, hidden_states: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, L, hidden) attention input -> (batch, L, feature_size) per-token features.

        positions: (batch or 1, L) float positions of the tokens, given to terms with `uses_positions` (the caller's
        `position_ids`, else 0, 1, ... after the cached tokens). A term that puts them among its features gets the
        cached tokens' positions back from the KV cache as key features, so relative distances stay right; it writes
        them with `encode_positions` (the cache stores features in the keys' dtype, where plain positions would round).
        """
        raise NotImplementedError

    def bias(self, query_features: torch.Tensor, key_features: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(batch, Lq, F), (batch, Lk, F) -> additive logits (batch, heads or 1, Lq, Lk)."""
        raise NotImplementedError

    def init_design_weights(self, config) -> None:
        raise NotImplementedError

    def coefficients(self) -> torch.Tensor:
        """The term's parameters as a fused kernel takes them (e.g. a per-head weight), as a new tensor."""
        raise NotImplementedError(f"{type(self).__name__} has no fused kernel inputs.")

    def forward(self, step: str, *args):
        """Run one step of the term — "features", "bias" or "coefficients" — as a call of this module.

        Every read of a term's parameters happens inside a call: FSDP gathers a module's sharded parameters only
        while the module is called, and PEFT's FSDP wrap policy makes a trainable term (a `modules_to_save` copy) an
        FSDP unit of its own, so a parameter read from outside a call is this rank's shard.
        """
        if step not in ("features", "bias", "coefficients"):
            raise ValueError(f"Unknown logit-term step {step!r}.")
        return getattr(self, step)(*args)


def causal_mask(query_length: int, key_length: int, device, *, queries_first: bool = False) -> torch.Tensor:
    """Boolean (Lq, Lk) mask, True = may attend. Queries are the last Lq of the Lk positions (KV-cache decoding), or
    the first Lq (`queries_first`: torch SDPA's `is_causal`)."""
    offset = 0 if queries_first else key_length - query_length
    query_positions = torch.arange(query_length, device=device)[:, None] + offset
    return torch.arange(key_length, device=device)[None, :] <= query_positions


def additive_mask(attention_mask, *, is_causal: bool, query_length: int, key_length: int, dtype, device):
    """Turn any mask Transformers hands an attention function into an additive float mask (or None).

    Transformers passes a boolean mask (sdpa, True = attend), an additive float mask (eager) or None; None on a
    causal layer means torch SDPA's `is_causal`, aligned top-left (sdpa skips building the mask when there is no
    padding): the queries are the first Lq keys. Lk > Lq then happens only at the prefill of an empty static cache,
    whose later keys are empty slots.
    """
    if attention_mask is None:
        if not is_causal or query_length == 1:
            return None
        attention_mask = causal_mask(query_length, key_length, device, queries_first=True)
    if attention_mask.dtype == torch.bool:
        # finfo.min rather than -inf: a fully masked row (a left-padding query) stays finite, as in stock eager.
        return torch.zeros((), dtype=dtype, device=device).masked_fill(~attention_mask, torch.finfo(dtype).min)
    return attention_mask.to(dtype)


def attention_naive(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    scaling: float,
    attention_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(scaling · q·kᵀ + bias + mask) · v with every intermediate materialized: what the designs' float64
    references (`naive.py`) build on, written apart from the model's own paths so that it can check them.

    query (batch, heads, Lq, D); key, value (batch, heads, Lk, D), KV heads already repeated; bias broadcastable to
    (batch, heads, Lq, Lk); attention_mask boolean (True = attend) or additive. Returns the output
    (batch, heads, Lq, D) and the probabilities (batch, heads, Lq, Lk).
    """
    logits = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if bias is not None:
        logits = logits + bias
    mask = additive_mask(
        attention_mask,
        is_causal=is_causal,
        query_length=query.shape[-2],
        key_length=key.shape[-2],
        dtype=logits.dtype,
        device=logits.device,
    )
    if mask is not None:
        logits = logits + mask
    # Softmax in at least float32 (as stock eager does for half precision); float64 stays float64.
    probabilities = torch.softmax(logits, dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    probabilities = F.dropout(probabilities.to(query.dtype), p=dropout, training=training)
    return torch.matmul(probabilities, value), probabilities


def _layer_mask(module, attention_mask, query, key, dtype):
    """The additive mask of one attention layer (its causality from `module.is_causal`), or None."""
    is_causal = getattr(module, "is_causal", False)
    return additive_mask(
        attention_mask,
        is_causal=is_causal,
        query_length=query.shape[-2],
        key_length=key.shape[-2],
        dtype=dtype,
        device=query.device,
    )


def repeat_kv(states: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(batch, kv_heads, L, D) -> (batch, heads, L, D) for grouped-query attention."""
    return states.repeat_interleave(num_heads // states.shape[1], dim=1)


def reference_attention(
    module, query, key, value, attention_mask, *, scaling, dropout=0.0, bias=None, query_key: bool = True
):
    """Attention with an optional additive `bias`, every intermediate materialized (the `eager` path).

    query (batch, heads, Lq, D); key, value (batch, kv_heads, Lk, D). Returns the output (batch, Lq, heads, D) and
    the attention probabilities (batch, heads, Lq, Lk). `query_key=False`: the logits are the bias alone (a term
    replaces q·k), and q·k is never computed.
    """
    if query_key:
        logits = torch.matmul(query, repeat_kv(key, query.shape[1]).transpose(-1, -2)) * scaling
        if bias is not None:
            logits = logits + bias.to(logits.dtype)
    else:
        logits = bias.to(query.dtype).expand(query.shape[0], query.shape[1], query.shape[2], key.shape[2])
    mask = _layer_mask(module, attention_mask, query, key, logits.dtype)
    if mask is not None:
        logits = logits + mask
    # Softmax in at least float32 (as stock eager does for half precision); float64 stays float64.
    probabilities = torch.softmax(logits, dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    probabilities = F.dropout(probabilities.to(query.dtype), p=dropout, training=module.training)
    output = torch.matmul(probabilities, repeat_kv(value, query.shape[1]))
    return output.transpose(1, 2).contiguous(), probabilities


def sdpa_attention(module, query, key, value, attention_mask, *, scaling, dropout=0.0, bias=None):
    """torch SDPA with the additive `bias` folded into a float mask: O(heads · Lq · Lk) memory for the bias.

    K and V are repeated to the query heads (the bias already costs more than the copy), so every SDPA backend
    takes the same inputs as the reference path.
    """
    if bias is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling)
    mask = _layer_mask(module, attention_mask, query, key, query.dtype)
    bias = bias.to(query.dtype)
    output = F.scaled_dot_product_attention(
        query,
        repeat_kv(key, query.shape[1]),
        repeat_kv(value, query.shape[1]),
        attn_mask=bias if mask is None else bias + mask,
        dropout_p=dropout if module.training else 0.0,
        scale=scaling,
    )
    return output.transpose(1, 2).contiguous(), None


def update_cache_with_features(cache, key_states, value_states, features, layer_idx):
    """Store per-token `features` of new tokens in the KV cache beside their keys; return the keys, values and
    features of every cached token.

    features (batch, L, F) are zero-padded to a multiple of the KV heads, split over them and appended to the key
    head dim: (batch, kv_heads, L, D + ceil(F / kv_heads)). Riding inside the keys, they stay aligned with them
    under every cache operation (crop, beam reorder, batch select, sliding windows) with no cache class of our own.
    """
    batch, kv_heads, length, head_dim = key_states.shape
    width = features.shape[-1]
    features = F.pad(features, (0, -width % kv_heads))
    per_head = features.view(batch, length, kv_heads, -1).transpose(1, 2).to(key_states.dtype)
    keys, values = cache.update(torch.cat([key_states, per_head], dim=-1), value_states, layer_idx)
    cached = keys[..., head_dim:].transpose(1, 2).reshape(batch, keys.shape[2], -1)[..., :width]
    return keys[..., :head_dim], values, cached


class DesignAttention:
    """Mixin placed before a stock attention class: the stock layer plus the `LogitTerm`s attached to it.

    The backbone adapter supplies `project_qkv` (q, k, v from the attention input, with the family's norms and
    rotary embeddings) and `project_output`; the design model attaches terms with `add_logit_term`.
    """

    def project_qkv(self, hidden_states, position_embeddings):
        raise NotImplementedError

    def project_output(self, attn_output):
        return attn_output

    def add_logit_term(self, name: str, term: LogitTerm) -> None:
        self.add_module(name, term)
        self.logit_term_names = (*getattr(self, "logit_term_names", ()), name)

    def logit_terms(self) -> list[LogitTerm]:
        return [getattr(self, name) for name in getattr(self, "logit_term_names", ())]

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # The KV cache: `cache` or `past_key_values`, depending on the Transformers release (`core/compat.py`).
        past_key_values = pop_cache_argument(kwargs)
        if kwargs.pop("encoder_hidden_states", None) is not None:
            raise ValueError(f"{type(self).__name__} is self-attention only: encoder_hidden_states is not supported.")
        input_shape = hidden_states.shape[:-1]
        query, key, value = self.project_qkv(hidden_states, position_embeddings)  # (batch, heads, L, D)

        terms = self.logit_terms()
        if replaces_query_key(terms):
            # q·k is not in the logits: the keys only carry the cached features, so no gradient reaches k_proj
            # whether or not a cache is used (training with and without gradient checkpointing agree).
            key = key.detach()
        positions = kwargs.pop(TOKEN_POSITIONS_KWARG, None)
        query_features = (
            torch.cat([term_features(term, hidden_states, positions) for term in terms], -1) if terms else None
        )
        key_features = query_features
        if past_key_values is not None:
            cache = getattr(past_key_values, "self_attention_cache", past_key_values)
            if terms:
                key, value, key_features = update_cache_with_features(
                    cache, key, value, query_features, self.layer_idx
                )
            else:
                key, value = cache.update(key, value, self.layer_idx)

        # A layer with its own mask pattern (`core/masks.py`) swaps the backbone's mask for its own.
        attention_mask = layer_attention_mask(self, attention_mask, kwargs, query, key)
        attention = design_attention_function(self.config._attn_implementation, terms)
        attn_output, attn_weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            scaling=self.scaling,
            dropout=self.attention_dropout_p() if self.training else 0.0,
            sliding_window=getattr(self, "sliding_window", None),
            terms=terms,
            query_features=query_features,
            key_features=key_features,
            **kwargs,
        )
        return self.project_output(attn_output.reshape(*input_shape, -1).contiguous()), attn_weights

    def attention_dropout_p(self) -> float:
        return getattr(self, "attention_dropout", 0.0)


def term_features(term: LogitTerm, hidden_states: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """A term's per-token features, with the tokens' positions for a term that reads them."""
    if not term.uses_positions:
        return term("features", hidden_states)
    if positions is None:
        raise ValueError(f"{type(term).__name__} reads token positions, but its layer was called without them.")
    return term("features", hidden_states, positions.to(hidden_states.device))


def term_biases(terms, query_features, key_features, dtype):
    """Σ of each term's bias, each reading its own slice of the concatenated features (None without terms)."""
    total, start = None, 0
    for term in terms:
        end = start + term.num_features
        bias = term("bias", query_features[..., start:end], key_features[..., start:end], dtype)
        total = bias if total is None else total + bias
        start = end
    return total


def replaces_query_key(terms) -> bool:
    return any(term.replaces_query_key for term in terms)


def _reference_with_terms(module, query, key, value, attention_mask, *, scaling, dropout, terms, **kwargs):
    bias = term_biases(terms, kwargs["query_features"], kwargs["key_features"], query.dtype)
    return reference_attention(
        module,
        query,
        key,
        value,
        attention_mask,
        scaling=scaling,
        dropout=dropout,
        bias=bias,
        query_key=not replaces_query_key(terms),
    )


def _sdpa_with_terms(module, query, key, value, attention_mask, *, scaling, dropout, terms, **kwargs):
    if replaces_query_key(terms):
        # softmax(bias + mask)·V: SDPA would also compute a q·k that the logits do not contain, so the reference path
        # (which materializes no more than SDPA's float mask already does) computes it without.
        output, _ = _reference_with_terms(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, terms=terms, **kwargs
        )
        return output, None
    bias = term_biases(terms, kwargs["query_features"], kwargs["key_features"], query.dtype)
    return sdpa_attention(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, bias=bias)


def _stock_eager(module, query, key, value, attention_mask, *, scaling, dropout, terms, **kwargs):
    # Not Transformers' `eager_attention_forward`: that one needs Llama's `num_key_value_groups`, absent in BERT.
    return reference_attention(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout)


def _stock_sdpa(module, query, key, value, attention_mask, *, terms, query_features, key_features, **kwargs):
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _stock_flex(module, query, key, value, attention_mask, *, terms, query_features, key_features, **kwargs):
    # The mask is a BlockMask: Transformers' own for a stock layer, the layer's pattern for the others.
    return flex_attention_forward(module, query, key, value, attention_mask, **kwargs)


REFERENCE_PATHS = {"eager": _reference_with_terms, "sdpa": _sdpa_with_terms}
# "flex_attention" is accepted only by model types whose layers carry no terms (`Capabilities.flex_attention`).
_STOCK_PATHS = {"eager": _stock_eager, "sdpa": _stock_sdpa, "flex_attention": _stock_flex}


def design_attention_function(implementation: str, terms: list[LogitTerm]) -> Callable:
    """The attention function of a layer carrying `terms` under `implementation` (validated by the model).

    "eager" and "sdpa" compute any set of terms; other keys are a term's fused kernels. A layer without terms
    (one the designs leave stock) runs the stock function of the same key, or stock SDPA under a kernel key.
    """
    if not terms:
        return _STOCK_PATHS.get(implementation, _stock_sdpa)
    if implementation in REFERENCE_PATHS:
        return REFERENCE_PATHS[implementation]
    if len(terms) == 1 and implementation in terms[0].kernels:
        return terms[0].kernels[implementation]
    raise ValueError(
        f"attn_implementation={implementation!r} cannot compute the terms {[type(t).__name__ for t in terms]}: "
        f"use one of {sorted(REFERENCE_PATHS)}."
    )
