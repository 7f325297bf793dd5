"""Per-layer attention masks: a design gives chosen layers a mask pattern of their own.

The stock base models build one mask for all their layers (a causal mask in decoders, a bidirectional padding mask
in BERT, per layer type in Gemma 3). A layer with a `MaskPattern` instead builds its own boolean mask from the 2D
padding mask of the batch:

    allowed(b, i, j) = padding(b, j) ∧ pattern(i, j) ∧ (|i - j| < W on a sliding-window layer of width W)

- The 2D padding mask reaches every layer as the keyword `PADDING_MASK_KWARG`, put into the base model's forward
  keywords by its input preparation (`core/inputs.py`), which the stock forward hands on to its layers.
- A pattern equal to the backbone's own (causal on a decoder, full on an encoder) keeps the stock mask untouched, so
  KV caches, static caches and packed sequences work as in the stock model.
- Every other layer gets an explicit boolean mask even without padding: SDPA given no mask would fall back to the
  layer's `is_causal`, which is exactly how a bidirectional layer in a converted decoder silently stays causal.
- A non-causal layer cannot extend a KV cache (a new token would change the earlier tokens' states): it refuses.
- Under `flex_attention` (model types whose designs only change masks) the mask is a `BlockMask` built from the same
  rule as a mask function (Transformers' `flex_attention_mask`): no L × L tensor, and the blocks a pattern hides (all
  below the diagonal for an anti-causal layer) are skipped. A layer's mask is built once per forward for each
  (pattern, window) and shared by the layers that use it (`LAYER_MASKS_KWARG`), on either path.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers.masking_utils import and_masks, flex_attention_mask, padding_mask_function

from .inputs import LAYER_MASKS_KWARG, PADDING_MASK_KWARG


@dataclass(frozen=True)
class MaskPattern:
    """Which keys j a query at position i may see within its own sequence, before padding and sliding windows.

    name: shown in errors, configs and plots.
    allows: (q_idx, kv_idx) integer tensors broadcast against each other -> boolean tensor.
    is_causal: exactly j <= i (the stock decoder mask; decoding with a KV cache works).
    is_full: every j (the stock encoder mask).
    """

    name: str
    allows: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    is_causal: bool = False
    is_full: bool = False


def _every_key(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(q == k)


def _earlier_keys(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return k <= q


FULL = MaskPattern("bidirectional", _every_key, is_full=True)
CAUSAL = MaskPattern("forward", _earlier_keys, is_causal=True)


class LayerMaskError(ValueError):
    """A layer with its own mask pattern cannot be run as asked (no 2D padding mask, or a KV cache it cannot use)."""


def set_mask_pattern(layer, pattern: MaskPattern) -> None:
    """Give an attention layer its own pattern. Its `is_causal` follows the pattern (read by every attention path
    that gets no mask), and the backbone's own causality is kept to know when the stock mask already is the
    pattern's."""
    layer.stock_is_causal = getattr(layer, "stock_is_causal", bool(getattr(layer, "is_causal", False)))
    layer.mask_pattern = pattern
    layer.is_causal = pattern.is_causal


def keeps_stock_mask(layer) -> bool:
    pattern = getattr(layer, "mask_pattern", None)
    if pattern is None:
        return True
    return pattern.is_causal if layer.stock_is_causal else pattern.is_full


def pattern_mask(
    pattern: MaskPattern,
    padding_mask: torch.Tensor | None,
    *,
    batch_size: int,
    query_length: int,
    key_length: int,
    sliding_window: int | None,
    device,
) -> torch.Tensor:
    """Boolean (batch, 1, Lq, Lk) mask, True = may attend; queries are the last Lq of the Lk positions.

    A row with no visible key (a padding query that sees only padding) attends to its own position instead: its
    output is meaningless either way, but a fully masked row would give NaN under SDPA, and NaN values of padding
    tokens poison the next layer (0 · NaN = NaN).
    """
    query_positions = torch.arange(query_length, device=device)[:, None] + (key_length - query_length)
    key_positions = torch.arange(key_length, device=device)[None, :]
    allowed = pattern.allows(query_positions, key_positions)
    if sliding_window is not None:
        allowed = allowed & ((query_positions - key_positions).abs() < sliding_window)
    allowed = allowed[None, None].expand(batch_size, 1, query_length, key_length)
    if padding_mask is not None:
        allowed = allowed & padding_mask.bool()[:, None, None, :]
    empty_rows = ~allowed.any(dim=-1, keepdim=True)
    return allowed | (empty_rows & (key_positions == query_positions))


def pattern_block_mask(
    pattern: MaskPattern, padding_mask, *, batch_size, query_length, key_length, sliding_window, device
):
    """The `pattern_mask` rule (same arguments) as a flex-attention `BlockMask` (batch, 1, Lq, Lk); no dense mask.

    A row with no visible key (only a padding query's, for a pattern that lets a query see its own position) needs
    no guard here: flex attention gives it a zero output, never NaN. Outputs at real tokens equal `pattern_mask`'s.
    The padding term is there even without padding (all ones): compiled flex attention is specialized per mask
    function, and one function per (pattern, window) keeps a model's variants below torch.compile's recompile limit.
    """

    def allows(batch_idx, head_idx, q_idx, kv_idx):
        return pattern.allows(q_idx, kv_idx)

    def within_window(batch_idx, head_idx, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() < sliding_window

    if padding_mask is None:
        padding_mask = torch.ones(batch_size, key_length, dtype=torch.bool, device=device)
    terms = [allows, padding_mask_function(padding_mask.bool())]
    if sliding_window is not None:
        terms.append(within_window)
    return flex_attention_mask(
        batch_size=batch_size,
        q_length=query_length,
        kv_length=key_length,
        q_offset=key_length - query_length,
        mask_function=and_masks(*terms),
        device=device,
    )


def layer_attention_mask(layer, stock_mask, padding_kwargs: dict, query: torch.Tensor, key: torch.Tensor):
    """The mask a layer's attention function receives: the stock mask, or the layer's own pattern mask (a boolean
    tensor, or a `BlockMask` under flex attention), shared with the forward's other layers of that pattern and window.

    padding_kwargs: the keywords the layer was called with (holding `PADDING_MASK_KWARG` and `LAYER_MASKS_KWARG` when
    the base model has the input preparation). query (batch, heads, Lq, D), key (batch, kv_heads, Lk, D) after the KV
    cache update.
    """
    padding_mask = padding_kwargs.pop(PADDING_MASK_KWARG, None)
    built = padding_kwargs.pop(LAYER_MASKS_KWARG, None)
    if keeps_stock_mask(layer):
        return stock_mask
    pattern = layer.mask_pattern
    query_length, key_length = query.shape[-2], key.shape[-2]
    where = f"Layer {layer.layer_idx} ({pattern.name} attention)"
    if query_length != key_length and not pattern.is_causal:
        raise LayerMaskError(
            f"{where} cannot extend a KV cache: a new token would change the states of the tokens before it. "
            "Run the whole sequence in one forward (use_cache=False)."
        )
    if padding_mask is not None and not (
        isinstance(padding_mask, torch.Tensor) and padding_mask.dim() == 2 and padding_mask.shape[-1] == key_length
    ):
        got = tuple(padding_mask.shape) if isinstance(padding_mask, torch.Tensor) else type(padding_mask).__name__
        raise LayerMaskError(
            f"{where} builds its own mask and needs a 2D padding mask (batch, {key_length}); got {got}. Custom 4D "
            "masks and prepared mask mappings cannot carry per-layer patterns."
        )
    sliding_window = getattr(layer, "sliding_window", None)
    flex = layer.config._attn_implementation == "flex_attention"
    shared_key = (pattern, sliding_window, query_length, key_length, flex, query.device)
    if built is not None and shared_key in built:
        return built[shared_key]
    mask = (pattern_block_mask if flex else pattern_mask)(
        pattern,
        padding_mask,
        batch_size=query.shape[0],
        query_length=query_length,
        key_length=key_length,
        sliding_window=sliding_window,
        device=query.device,
    )
    if built is not None:
        built[shared_key] = mask
    return mask
