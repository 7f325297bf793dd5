"""hf-archs: novel attention designs as Hugging Face Transformers models.

`import hf_archs` registers every zoo model with the Auto classes and PEFT; see `hf_archs.registry.ZOO`.
"""

from .backbones import UnsupportedSourceError
from .models.semantic_bert import (
    SemanticBertConfig,
    SemanticBertForMaskedLM,
    SemanticBertForSequenceClassification,
    SemanticBertForTokenClassification,
    SemanticBertModel,
)
from .models.semantic_llama import (
    SemanticLlamaConfig,
    SemanticLlamaForCausalLM,
    SemanticLlamaForSequenceClassification,
    SemanticLlamaModel,
)
from .registry import DESIGNS, ZOO, UnknownDesignError, register_all, zoo_model


register_all()

__version__ = "0.1.0"


def convert(*args, **kwargs):
    """See `hf_archs.conversion.convert` (imported lazily: it pulls in tokenizers and sentence-transformers)."""
    from .conversion import convert as _convert

    return _convert(*args, **kwargs)
