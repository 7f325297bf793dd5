"""Layer extensions: whole new sub-networks attached to chosen stock layers at construction.

A design declares `Design.layer_extension`, a `LayerExtension` subclass. When the design base model is built, each
chosen stock layer (the backbone's `Backbone.layers` list) gets one extension module as a child, and a forward hook
that hands the extension the layer's own output and the arguments the layer was called with:

    new_output = extension(layer_output, layer_args, layer_kwargs)

So the stock layer keeps its place, its class and its weight names (conversion is a state-dict copy, PEFT targets
stay stock), and the extension may run further layers of the family beside it (`Backbone.narrow_layer` builds a
layer of another width) on the same masks, rotary embeddings and KV cache.

Two things make such inner layers behave like parts of one stock layer:
- `outputs_not_recorded()`: Transformers records `output_hidden_states` / `output_attentions` with hooks on every
  module of the stock layer and attention classes; inner layers run as a nested model that records nothing, so the
  outputs keep one entry per stock layer.
- `cache_layer_index()`: an inner attention layer keeps its own KV-cache layer, an index past the stock ones, which
  is added to the model's cache (of the same kind as its stock layer's: dynamic, sliding, static) on first use. The
  cache's own operations (beam reorder, crop, reset, batch select) then cover it like any other layer.
"""

import inspect
from contextlib import contextmanager

import torch
from torch import nn


try:  # Transformers' collector of hooked outputs (`output_hidden_states`, `output_attentions`)
    from transformers.utils.output_capturing import _active_collector
except ImportError:  # an older layout: nothing to pause
    _active_collector = None


class LayerExtension(nn.Module):
    """A design's module attached to one stock layer; it maps that layer's output to the layer's new output.

    Subclasses define `__init__(config, layer_idx, stock_layer, backbone, first_cache_index)`, `forward(layer_output,
    layer_args, layer_kwargs)`, `init_design_weights(config)` and, when they run attention layers of their own with a
    KV cache, `num_cache_layers` (how many cache layers from `first_cache_index` on they use).
    """

    # Marks modules holding a design's new parameters (weight init, conversion, LoRA `modules_to_save`).
    hf_archs_design_module = True
    # The child name under the stock layer (weight names: "<layer path>.<attribute_name>....").
    attribute_name: str = "extension"
    num_cache_layers: int = 0

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


def layer_input(layer_args: tuple, layer_kwargs: dict) -> torch.Tensor:
    """The hidden states a stock layer was called with (first positional argument, or the `hidden_states` keyword)."""
    return layer_args[0] if layer_args else layer_kwargs["hidden_states"]


def call_like(layer: nn.Module, hidden_states: torch.Tensor, layer_args: tuple, layer_kwargs: dict):
    """Call `layer` as the stock layer was called, with `hidden_states` in place of its input."""
    if layer_args:
        return layer(hidden_states, *layer_args[1:], **layer_kwargs)
    return layer(**{**layer_kwargs, "hidden_states": hidden_states})


@contextmanager
def outputs_not_recorded():
    """Run inner layers as a nested model called with every `output_*` switch off: Transformers' recording hooks then
    find an empty request, so the model's `hidden_states` / `attentions` keep one entry per stock layer.

    Transformers installs its recording hooks on every module of the stock layer and attention classes, the inner
    layers included, and offers no per-module exclusion: an `OutputRecorder`'s `layer_name` is a substring filter,
    and an inner layer's name contains its stock layer's. So the collector of the call in progress is swapped for the
    empty one a nested model uses, and put back with its own token; never set to None, which Transformers' own
    instrumentation (e.g. its `test_capture_outputs_decorator`) does not expect."""
    previous = _active_collector.get() if _active_collector is not None else None
    if not previous:  # nothing is being recorded
        yield
        return
    token = _active_collector.set({})
    try:
        yield
    finally:
        if token is not None:
            _active_collector.reset(token)
        else:  # under torch.compile the collector is a plain global, which reset() would clear: put it back
            _active_collector.set(previous)


def _new_cache_layer_like(layer):
    """An empty cache layer of the same kind as `layer` (dynamic, sliding-window, static: same window and length)."""
    cls = type(layer)
    kwargs = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if hasattr(layer, name):
            kwargs[name] = getattr(layer, name)
        elif name == "sliding_window" and hasattr(layer, "max_cache_len"):
            # A static sliding layer keeps only min(window, length) as its length; that value as the window gives the
            # same layer.
            kwargs[name] = layer.max_cache_len
        elif parameter.default is parameter.empty:
            raise TypeError(f"Cannot build an empty cache layer like {cls.__name__}: {name!r} is unknown.")
    new_layer = cls(**kwargs)
    # Assisted decoding turns on past recording (to crop sliding-window layers back) before the extension's layers
    # exist: a layer added later must record too.
    if getattr(layer, "record_past", False):
        new_layer.activate_past_recording()
    return new_layer


def ensure_cache_layer(cache, index: int, like: int) -> None:
    """Make `cache` hold a layer at `index` (adding empty ones of the same kind as its layer `like`)."""
    cache = getattr(cache, "self_attention_cache", cache)
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise TypeError(f"{type(cache).__name__} has no list of layers to add the extension's cache layers to.")
    while len(layers) <= index:
        layers.append(_new_cache_layer_like(layers[like]))


def _run_extension(layer, args, kwargs, output):
    """Forward hook of a stock layer with an extension: the extension's output replaces the layer's."""
    return getattr(layer, layer.hf_archs_extension_name)(output, args, kwargs)


def install_layer_extensions(base_model: nn.Module, backbone, designs) -> None:
    """Attach each design's `layer_extension` to its chosen stock layers of `base_model` (built, not initialized)."""
    config = base_model.config
    stock_layers = base_model.get_submodule(backbone.layers)
    next_cache_index = config.num_hidden_layers
    for design in designs:
        if design.layer_extension is None:
            continue
        if backbone.narrow_layer is None:
            raise ValueError(f"The {backbone.name} backbone cannot build the layers of the {design.name} design.")
        for layer_idx in design.layer_indices(config):
            layer = stock_layers[layer_idx]
            if getattr(layer, "hf_archs_extension_name", None) is not None:
                raise ValueError(f"Layer {layer_idx} already has an extension: at most one design may extend it.")
            extension = design.layer_extension(config, layer_idx, layer, backbone, next_cache_index)
            next_cache_index += extension.num_cache_layers
            layer.add_module(extension.attribute_name, extension)
            layer.hf_archs_extension_name = extension.attribute_name
            layer.register_forward_hook(_run_extension, with_kwargs=True)


__all__ = [
    "LayerExtension",
    "call_like",
    "ensure_cache_layer",
    "install_layer_extensions",
    "layer_input",
    "outputs_not_recorded",
]
