"""Each design's math is written once, as `Design.math`; the package docstring and the CLI render it."""

import importlib

import pytest

from hf_archs.cli import main as cli
from hf_archs.registry import DESIGNS


@pytest.mark.parametrize("design", DESIGNS.values(), ids=lambda design: design.name)
def test_package_docstring_shows_the_design_math(design):
    package = importlib.import_module(f"hf_archs.designs.{design.field_prefix or design.name}".rstrip("_"))
    assert f"\n{design.math}\n" in package.__doc__
    # The docstring's own text (before the appended math) points to it and restates none of its formulas.
    own = package.__doc__.split("\nThe math of the ")[0]
    formulas = [line.strip() for line in design.math.splitlines() if line.startswith("    ")]
    assert "The math is `" in own and formulas and not [line for line in formulas if line in own]


def test_list_math_prints_every_design_math(capsys):
    assert cli(["list", "--math"]) == 0
    out = capsys.readouterr().out
    for design in DESIGNS.values():
        assert f"## {design.name}\n\n{design.math}\n" in out
