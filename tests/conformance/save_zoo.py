"""Save a tiny random checkpoint of every zoo model type, with the hf_archs forward as reference outputs, for
`tests/conformance/remote_code.py` to load through `trust_remote_code` where hf_archs is not installed.

    python -m tests.conformance.save_zoo OUT
"""

import contextlib
import io
import sys
from pathlib import Path

import torch
import transformers

from hf_archs.conversion import convert, sample_batches
from hf_archs.conversion.verify import main_output
from hf_archs.core.compat import TRANSFORMERS_REQUIREMENT
from hf_archs.testing import CASES, STOCK_VARIANTS, VOCAB


def save_zoo(root: Path, variants=STOCK_VARIANTS, weights_dtype: torch.dtype | None = None) -> None:
    """`variants` replace the stock variants of the same names (e.g. smaller ones); `weights_dtype` is the dtype the
    weights are stored in (the reference outputs are those of the stored weights loaded in float32)."""
    variants = {variant.name: variant for variant in variants}
    sources = {}
    for variant in variants.values():
        torch.manual_seed(0)
        sources[variant.name] = root / "sources" / variant.name
        variant.model_class(variant.config).save_pretrained(sources[variant.name])
    seen = set()
    for case in CASES:  # one case per model type: its backbone's first stock variant
        if case.entry.model_type in seen:
            continue
        seen.add(case.entry.model_type)
        folder = root / "zoo" / case.entry.model_type
        with contextlib.redirect_stdout(io.StringIO()):
            convert(
                case.entry.design_name,
                str(sources[case.variant.name]),
                folder,
                design_settings=case.entry.active_setting,
                verify=False,
                progress=False,
            )
        auto_class = getattr(transformers, case.variant.head_auto_class)
        if weights_dtype is not None:
            stored = auto_class.from_pretrained(folder, dtype=weights_dtype)
            stored.save_pretrained(folder)
            # Loaded in float32 by default, as the reference outputs are computed.
            stored.config.dtype = torch.float32
            stored.config.save_pretrained(folder)
        model = auto_class.from_pretrained(folder, dtype=torch.float32).eval()
        batch = sample_batches(None, VOCAB)["left_padding" if case.is_decoder else "right_padding"]
        with torch.no_grad():
            expected = main_output(model(**batch))
        reference = {
            "auto_class": case.variant.head_auto_class,
            "batch": batch,
            "expected": expected,
            "is_decoder": case.is_decoder,
            "decodes_with_cache": case.decodes_with_cache,
            "transformers_requirement": TRANSFORMERS_REQUIREMENT,
            "saved_with": transformers.__version__,
        }
        torch.save(reference, folder / "conformance_reference.pt")
        print("saved", case.entry.model_type, flush=True)


if __name__ == "__main__":
    save_zoo(Path(sys.argv[1]))
