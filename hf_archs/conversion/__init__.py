"""Conversion of stock checkpoints into zoo designs (`hf-archs convert`)."""

from .convert import IDENTITY_ATOL, ConversionError, ConversionReport, convert
from .verify import compare_models, sample_batches
