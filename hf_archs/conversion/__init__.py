"""Conversion of stock checkpoints into zoo designs (`hf-archs convert`)."""

from .converter import IDENTITY_ATOL, ConversionError, ConversionReport, convert
from .verify import compare_models, sample_batches


__all__ = [
    "ConversionError",
    "ConversionReport",
    "IDENTITY_ATOL",
    "compare_models",
    "convert",
    "sample_batches",
]
