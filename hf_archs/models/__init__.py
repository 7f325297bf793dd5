"""One folder per model type: `<model_type>/{configuration,modeling}_<model_type>.py`."""
