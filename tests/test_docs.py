"""The repository stands on its own: no citation of documents that are not in it."""

from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
TEXT_FILES = [
    path
    for folder in ("hf_archs", "tests", "model_cards", "benchmarks", "recipes", "conversion", "scripts")
    for path in sorted((ROOT / folder).rglob("*"))
    if path.suffix in {".py", ".md", ".sh", ".txt"}
] + [ROOT / "README.md"]


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_of_the_design_reference_outside_the_repo(path):
    """Bug: code and cards cited sections of a design reference that is not part of the repository."""
    marker = "DESIGN" + " §"  # split so this file does not match itself
    lines = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if marker in line]
    assert not lines, f"{path.relative_to(ROOT)} cites the external design reference on lines {lines}"
