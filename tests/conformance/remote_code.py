"""Saved zoo checkpoints through `trust_remote_code` where hf_archs is not installed: each loads from its own code,
its forward equals the hf_archs forward it was saved with, and a decoder generates what a full recompute gives
(`generation.py`). On a Transformers release outside the range the code was tested on, loading must refuse instead.

    python -m tests.conformance.remote_code ROOT   # ROOT as written by tests.conformance.save_zoo (with hf_archs)

Imports torch and transformers only, and blocks hf_archs (the repository's folder may be on the path).
"""

import sys
import time
import traceback
from pathlib import Path

import torch
import transformers
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.conformance import generation


FORWARD_ATOL = 1e-5
# Checks of a decoder that decodes with a KV cache, on the saved left-padded batch (its first two rows: the longest,
# and a padded one).
CACHED_DECODING_CHECKS = {
    "dynamic cache": generation.assert_cached_generation_matches_recompute,
    "static cache": generation.check_static_cache,
    "left padding": generation.check_left_padding,
    "beam search": generation.check_beam_search,
    "continuing from the returned cache": generation.check_continuing_from_returned_cache,
}


class BlockHfArchs:
    """The checkpoint must bring its own code."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "hf_archs":
            raise ImportError("hf_archs is blocked in this process")


def check_checkpoint(folder: Path, reference: dict) -> list[str]:
    """The failures of one saved checkpoint (empty: it conforms)."""
    auto_class = getattr(transformers, reference["auto_class"])
    model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
    if not type(model).__module__.startswith("transformers_modules"):
        return [f"loaded {type(model).__module__}.{type(model).__name__}, not the checkpoint's own code"]
    failures = []
    with torch.no_grad():
        actual = model(**reference["batch"]).logits
    try:
        torch.testing.assert_close(actual, reference["expected"], atol=FORWARD_ATOL, rtol=FORWARD_ATOL)
    except AssertionError as error:
        failures.append(f"forward differs from the hf_archs forward: {error}")
    if not reference["is_decoder"]:
        return failures
    inputs = {name: value[:2] for name, value in reference["batch"].items()}
    if not reference["decodes_with_cache"]:
        checks = {"refuses cached decoding": lambda m, i: generation.check_refuses_cached_decoding(m, i, "KV cache")}
    else:
        checks = CACHED_DECODING_CHECKS
    model.generation_config.eos_token_id = None  # an early stop would only shorten what is compared
    for name, check in checks.items():
        try:
            check(model, inputs)
        except Exception as error:  # noqa: BLE001 (a check's error of any kind is that check's failure)
            failures.append(f"{name}: {type(error).__name__}: {str(error)[:2000]}")
    return failures


def check_refusal(folder: Path, reference: dict) -> list[str]:
    """On an untested release: loading the checkpoint raises, naming the tested range."""
    try:
        getattr(transformers, reference["auto_class"]).from_pretrained(folder, trust_remote_code=True)
    except ImportError as error:
        if reference["transformers_requirement"] in str(error):
            return []
        return [f"refused, but without naming the tested range: {error}"]
    return [f"transformers {transformers.__version__} is untested, yet the checkpoint loaded"]


def main(root: Path) -> int:
    sys.meta_path.insert(0, BlockHfArchs())
    folders = sorted(path.parent for path in (root / "zoo").glob("*/conformance_reference.pt"))
    if not folders:
        print(f"no saved checkpoints under {root / 'zoo'}")
        return 1
    failed = 0
    for folder in folders:
        reference = torch.load(folder / "conformance_reference.pt")
        tested = SpecifierSet(reference["transformers_requirement"])
        supported = tested.contains(Version(transformers.__version__), prereleases=True)
        start = time.perf_counter()
        try:
            failures = (check_checkpoint if supported else check_refusal)(folder, reference)
        except Exception:  # noqa: BLE001 (loading itself failed: report it as this checkpoint's failure)
            failures = [traceback.format_exc(limit=-3)]
        verdict = "ok" if not failures else "FAILED"
        if not supported:
            verdict += f" (refused: untested, tested transformers{reference['transformers_requirement']})"
        print(f"{folder.name:32s} {verdict}  {time.perf_counter() - start:.1f}s", flush=True)
        for failure in failures:
            print("    " + failure.replace("\n", "\n    "))
        failed += bool(failures)
    conforming = len(folders) - failed
    print(f"transformers {transformers.__version__}: {conforming} of {len(folders)} saved model types conform")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
