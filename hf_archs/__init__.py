"""hf-archs: novel attention designs as Hugging Face Transformers models.

`import hf_archs` registers every zoo model with the Auto classes and PEFT; see `hf_archs.registry.ZOO`.
"""

from .backbones import UnsupportedSourceError
from .conversion import ConversionError, ConversionReport, convert
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


__all__ = [
    "ConversionError",
    "ConversionReport",
    "convert",
    "DESIGNS",
    "SemanticBertConfig",
    "SemanticBertForMaskedLM",
    "SemanticBertForSequenceClassification",
    "SemanticBertForTokenClassification",
    "SemanticBertModel",
    "SemanticLlamaConfig",
    "SemanticLlamaForCausalLM",
    "SemanticLlamaForSequenceClassification",
    "SemanticLlamaModel",
    "UnknownDesignError",
    "UnsupportedSourceError",
    "ZOO",
    "zoo_model",
]


register_all()

__version__ = "0.1.0"
