"""The release of hf-archs (one source: the package metadata reads it too, `pyproject.toml`)."""

__version__ = "0.2.0"
