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


OSCILLATING = Design(
    name="oscillating",
    summary="layers cycle through bidirectional, forward (causal) and backward (anti-causal) attention masks",
    math=(
        "Layer l attends with pattern p(l) = overrides[l], else patterns[l mod len(patterns)]: `bidirectional` "
        "(query i sees every key j), `forward` (j ≤ i) or `backward` (j ≥ i), always combined with the padding mask "
        "and, on Gemma 3 sliding-window layers, with |i − j| < W. Attention is otherwise stock and the design adds no "
        "parameters. Every layer `forward` is the stock decoder, every layer `bidirectional` the stock BERT; with any "
        "non-causal layer the model is an encoder and cannot decode with a KV cache."
    ),
    fields=OscillatingFields,
    identity={},
    # Every layer the backbone's own mask: causal on a decoder, bidirectional on an encoder.
    identity_by_backbone={
        name: {"oscillating_layer_attention_patterns": ["forward" if backbone.is_decoder else "bidirectional"]}
        for name, backbone in BACKBONES.items()
    },
    active={"oscillating_layer_attention_patterns": list(DEFAULT_CYCLE)},
    # The active setting has non-causal layers; a config with every layer `forward` still decodes with a cache.
    capabilities=Capabilities(conversion="exact", cached_generation=False, new_parameters=False),
    layer_masks=lambda config: {layer: PATTERNS[name] for layer, name in enumerate(layer_patterns(config))},
    tasks=("retrieval", "mlm"),
)
