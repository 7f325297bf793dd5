"""Checkpoints saved by the previous release (tests/fixtures/checkpoints-<version>.tar.xz, written by
`tests.fixtures.save_release_checkpoints` at that release) still load: through hf_archs's registered classes, and
through their own saved code where hf_archs is not installed."""

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
import transformers

from hf_archs.registry import ZOO
from tests.conformance.remote_code import FORWARD_ATOL


PREVIOUS_RELEASE = "0.2.0"
ARCHIVE = Path(__file__).parents[1] / "fixtures" / f"checkpoints-{PREVIOUS_RELEASE}.tar.xz"


@pytest.fixture(scope="module")
def saved_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"release-{PREVIOUS_RELEASE}")
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(root, filter="data")
    return root


def test_the_archive_holds_every_model_type_of_that_release(saved_root):
    saved = {path.name for path in (saved_root / "zoo").iterdir()}
    # A model type added since is not in it; one that disappeared would be a break.
    assert saved <= {entry.model_type for entry in ZOO}, saved - {entry.model_type for entry in ZOO}
    assert len(saved) == 28


@pytest.mark.parametrize("model_type", sorted(entry.model_type for entry in ZOO))
def test_loads_through_hf_archs_with_the_outputs_it_was_saved_with(saved_root, model_type):
    folder = saved_root / "zoo" / model_type
    if not folder.exists():
        pytest.skip(f"{model_type} is newer than release {PREVIOUS_RELEASE}")
    reference = torch.load(folder / "conformance_reference.pt")
    model = getattr(transformers, reference["auto_class"]).from_pretrained(folder).eval()
    assert type(model).__module__.startswith("hf_archs."), type(model).__module__
    with torch.no_grad():
        actual = model(**reference["batch"]).logits
    torch.testing.assert_close(actual, reference["expected"], atol=FORWARD_ATOL, rtol=FORWARD_ATOL)


@pytest.mark.slow
def test_loads_through_its_own_code_without_hf_archs(saved_root):
    """Forward and cached generation from the saved code (or, on a Transformers release outside the range that code
    was tested on, a refusal naming the range): `tests/conformance/remote_code.py`."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.conformance.remote_code", str(saved_root)],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
