"""The oscillating design, declared once: config fields, identity per backbone, capabilities, per-layer masks."""

from dataclasses import dataclass, field

import torch

from ...backbones import BACKBONES
from ...core.design import Capabilities, Design, DesignFields
from ...core.masks import CAUSAL, FULL, MaskPattern


def _later_keys(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return k >= q


ANTI_CAUSAL = MaskPattern("backward", _later_keys)
PATTERNS: dict[str, MaskPattern] = {pattern.name: pattern for pattern in (FULL, CAUSAL, ANTI_CAUSAL)}
DEFAULT_CYCLE = ("bidirectional", "forward", "backward")


@dataclass(kw_only=True)
class OscillatingFields(DesignFields):
    """Config fields of oscillating attention.

    oscillating_layer_attention_patterns: the cycle of patterns; layer l uses entry l mod its length. Each entry is
        "bidirectional", "forward" or "backward". A list as long as the model gives each layer its own.
    oscillating_layer_overrides: {layer index: pattern} taking precedence over the cycle (int or str keys; stored as
        strings, as JSON keeps them).
    """

    oscillating_layer_attention_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_CYCLE))
    oscillating_layer_overrides: dict | None = None

    def validate_design_fields(self):
        cycle = self.oscillating_layer_attention_patterns
        overrides = self.oscillating_layer_overrides or {}
        if isinstance(cycle, str) or not cycle:
            raise ValueError(f"oscillating_layer_attention_patterns must be a non-empty list, got {cycle!r}.")
        bad = sorted({str(name) for name in [*cycle, *overrides.values()] if name not in PATTERNS})
        if bad:
            raise ValueError(
                f"oscillating_layer_attention_patterns/oscillating_layer_overrides: unknown patterns {bad}; "
                f"choose from {list(PATTERNS)}."
            )
        for key in overrides:
            if not (str(key).isdigit() and int(key) < self.num_hidden_layers):
                raise ValueError(
                    f"oscillating_layer_overrides key {key!r} is not a layer index in [0, {self.num_hidden_layers})."
                )
        if overrides:
            # Stored with string keys, as JSON keeps them: int and str keys mixed would not even serialize.
            self.oscillating_layer_overrides = {str(key): name for key, name in overrides.items()}


def layer_patterns(config) -> list[str]:
    """The pattern name of every layer of `config`, overrides applied."""
    cycle = config.oscillating_layer_attention_patterns
    overrides = {int(key): name for key, name in (config.oscillating_layer_overrides or {}).items()}
    return [overrides.get(layer, cycle[layer % len(cycle)]) for layer in range(config.num_hidden_layers)]


MATH = """\
Layer l attends with the pattern p(l) = overrides[l] if l is overridden, else patterns[l mod len(patterns)], one of

    bidirectional:  query i may see every key j            (an encoder layer)
    forward:        query i may see the keys j ≤ i          (a causal decoder layer)
    backward:       query i may see the keys j ≥ i          (an anti-causal layer, reading the future only)

combined with the padding mask (a padding key is never seen, whichever side it is on) and, on sliding-window layers
of width W, with |i − j| < W in the layer's own direction. The attention itself is stock,
softmax(s · q·kᵀ + mask) v with the backbone's scaling s and position encoding; the design adds no parameters.
Config fields: `oscillating_layer_attention_patterns` (the cycle; default
`["bidirectional", "forward", "backward"]`) and `oscillating_layer_overrides` (`{layer: pattern}`).

**Identity setting:** every layer the backbone's own pattern: `forward` on a decoder, `bidirectional` on an encoder
(those layers keep the stock mask, KV cache included); conversion sets it and checks it.

**Decoding:** a model with any non-causal layer is an encoder (embeddings, masked LM, classification): it cannot
decode left to right with a KV cache (a new token would change the states of the tokens before it). `generate()`
refuses, naming the layers; `generate(..., use_cache=False)` recomputes the whole sequence at every step (each layer
with its own pattern over the current sequence), and a forward pass that extends a cache through a non-causal layer
raises. A model whose layers are all `forward` generates with a cache like the stock model."""


OSCILLATING = Design(
    name="oscillating",
    summary="layers cycle through bidirectional, forward (causal) and backward (anti-causal) attention masks",
    math=MATH,
    fields=OscillatingFields,
    identity={},
    # Every layer the backbone's own mask: causal on a decoder, bidirectional on an encoder.
    identity_by_backbone={
        name: {"oscillating_layer_attention_patterns": ["forward" if backbone.is_decoder else "bidirectional"]}
        for name, backbone in BACKBONES.items()
    },
    active={"oscillating_layer_attention_patterns": list(DEFAULT_CYCLE)},
    # The active setting has non-causal layers; a config with every layer `forward` still decodes with a cache. Only
    # masks change: Transformers' flex kernel runs it, each layer's pattern a block mask.
    capabilities=Capabilities(conversion="exact", cached_generation=False, new_parameters=False, flex_attention=True),
    layer_masks=lambda config: {layer: PATTERNS[name] for layer, name in enumerate(layer_patterns(config))},
    tasks=("retrieval", "mlm"),
)
