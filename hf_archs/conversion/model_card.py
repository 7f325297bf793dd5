"""The model card (README.md with a Hub YAML header) written into every converted checkpoint."""

import re
from pathlib import Path


def _source_license(source_dir: Path | None) -> str:
    readme = source_dir / "README.md" if source_dir else None
    if readme and readme.exists():
        match = re.search(r"^license:\s*(\S+)", readme.read_text(encoding="utf-8"), re.M)
        if match:
            return match.group(1)
    return "other"


def render_model_card(entry, report, license: str = "other") -> str:
    settings = ", ".join(f"`{k}={v}`" for k, v in report.design_settings.items())
    diffs = "\n".join(f"| {name} | {value:.2e} |" for name, value in report.max_abs_diff.items())
    if report.sentence_embedding_max_abs_diff is not None:
        diffs += f"\n| sentence embeddings | {report.sentence_embedding_max_abs_diff:.2e} |"
    for name, values in report.initialization.items():  # what a conversion plan measured, e.g. a fit's error
        rows = "\n".join(
            f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |"
            for key, value in values.items()
        )
        diffs += (
            f"\n\n{name} (measured by the design's conversion plan):\n\n| quantity | value |\n| --- | --- |\n{rows}"
        )
    loader = report.auto_class
    if report.identity:
        identity = "This is the identity setting: the model computes the source model's function."
    else:
        identity = "This is not the identity setting: outputs differ from the source by design."
    return f"""---
library_name: transformers
license: {license}
base_model: {report.source}
tags:
- hf-archs
- {entry.design_name}
- {entry.model_type}
---

# {Path(report.output_dir).name}

`{report.source}` converted to **{entry.model_type}** ({entry.design_name} design of hf-archs) — {entry.summary}.

## Math

{entry.math}

## Conversion

Weights copied from `{report.source}` ({report.source_architecture} → {report.design_class}); new parameters:
{len(report.new_parameters)} tensors, set by {settings}. {identity}

max |Δ| between source and converted outputs (float32, non-padding tokens):

| batch | max abs diff |
| --- | --- |
{diffs}

## Usage

```python
from transformers import {loader}

# with hf-archs installed (`import hf_archs` registers the classes), or without it via remote code:
model = {loader}.from_pretrained("path/to/this/folder", trust_remote_code=True)
```

Fine-tune the new parameters with LoRA: `python recipes/lora_finetune.py --model path/to/this/folder` (hf-archs).
"""


def write_model_card(directory: Path, entry, report, source_dir: Path | None = None) -> Path:
    path = Path(directory) / "README.md"
    path.write_text(render_model_card(entry, report, _source_license(source_dir)), encoding="utf-8")
    return path
