"""hf-archs: novel attention designs as Hugging Face Transformers models.

`import hf_archs` registers every zoo model with the Auto classes and PEFT; `hf_archs.registry` lists them and
`hf_archs.models` holds their classes (also importable from here).
"""

from .backbones import UnsupportedSourceError
from .conversion import ConversionError, ConversionReport, convert
from .core.design import UnknownDesignKeyError
from .models import *  # noqa: F403  (every model type's config and model classes)
from .models import __all__ as _model_classes
from .registry import DESIGNS, ZOO, UnknownDesignError, register_all, zoo_model
from .version import __version__


__all__ = [
    "ConversionError",
    "ConversionReport",
    "DESIGNS",
    "UnknownDesignError",
    "UnknownDesignKeyError",
    "UnsupportedSourceError",
    "ZOO",
    "__version__",
    "convert",
    "zoo_model",
    *_model_classes,
]


register_all()
