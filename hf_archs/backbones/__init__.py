"""The stock families designs are built on: one adapter each (`llama.py`, `gemma3.py`, `bert.py`)."""

from transformers import PreTrainedConfig

from .base import Backbone, UnsupportedSourceError
from .bert import BERT
from .gemma3 import GEMMA3
from .llama import LLAMA


BACKBONES = {backbone.name: backbone for backbone in (LLAMA, GEMMA3, BERT)}


def backbone_for(source: PreTrainedConfig) -> Backbone:
    """The backbone a stock checkpoint of `source`'s model type converts onto."""
    for backbone in BACKBONES.values():
        if source.model_type in backbone.source_model_types:
            return backbone
    supported = sorted(t for b in BACKBONES.values() for t in b.source_model_types)
    raise UnsupportedSourceError(
        f"Cannot convert a {source.model_type!r} checkpoint: supported source model types are {supported}."
    )


__all__ = ["BACKBONES", "BERT", "GEMMA3", "LLAMA", "Backbone", "UnsupportedSourceError", "backbone_for"]
