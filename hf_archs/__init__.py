"""hf-archs: novel attention designs as Hugging Face Transformers models.

`import hf_archs` registers every zoo model with the Auto classes and PEFT; `hf_archs.registry` lists them.
"""

from .backbones import UnsupportedSourceError
from .conversion import ConversionError, ConversionReport, convert
from .core.design import UnknownDesignKeyError
from .designs.compositions.configuration_compositions import *  # noqa: F403
from .designs.compositions.modeling_compositions import *  # noqa: F403
from .designs.continuous.configuration_continuous import *  # noqa: F403
from .designs.continuous.modeling_continuous import *  # noqa: F403
from .designs.dictionary.configuration_dictionary import *  # noqa: F403
from .designs.dictionary.modeling_dictionary import *  # noqa: F403
from .designs.monitor.configuration_monitor import *  # noqa: F403
from .designs.monitor.modeling_monitor import *  # noqa: F403
from .designs.multiscale.configuration_multiscale import *  # noqa: F403
from .designs.multiscale.modeling_multiscale import *  # noqa: F403
from .designs.oscillating.configuration_oscillating import *  # noqa: F403
from .designs.oscillating.modeling_oscillating import *  # noqa: F403
from .designs.positional.configuration_positional import *  # noqa: F403
from .designs.positional.modeling_positional import *  # noqa: F403
from .designs.resonant.configuration_resonant import *  # noqa: F403
from .designs.resonant.modeling_resonant import *  # noqa: F403
from .designs.semantic.configuration_semantic import *  # noqa: F403  (the model types' public classes)
from .designs.semantic.modeling_semantic import *  # noqa: F403
from .designs.synthesizer.configuration_synthesizer import *  # noqa: F403
from .designs.synthesizer.modeling_synthesizer import *  # noqa: F403
from .registry import DESIGNS, ZOO, UnknownDesignError, register_all, zoo_model


__all__ = [
    "ConversionError",
    "ConversionReport",
    "DESIGNS",
    "UnknownDesignError",
    "UnknownDesignKeyError",
    "UnsupportedSourceError",
    "ZOO",
    "convert",
    "zoo_model",
    *(cls.__name__ for entry in ZOO for cls in (entry.config_class, *entry.model_classes.values())),
]


register_all()

__version__ = "0.2.0"
