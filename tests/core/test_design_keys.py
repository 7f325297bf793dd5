"""Config keys of designs a config does not carry are refused like misspelt ones."""

import pytest

from hf_archs.registry import DESIGNS, ZOO
from hf_archs.testing import STOCK_VARIANTS


def test_another_designs_key_is_refused():
    """Bug: `SemanticLlamaConfig(resonant_lambda_init=0.1)` was accepted, stored and ignored."""
    config_class = next(entry.config_class for entry in ZOO if entry.model_type == "semantic_llama")
    with pytest.raises(Exception, match=r"unknown design keys \['resonant_lambda_init'\]"):
        config_class(resonant_lambda_init=0.1)


@pytest.mark.parametrize("entry", ZOO, ids=lambda entry: entry.model_type)
def test_every_foreign_design_field_is_refused_and_own_fields_accepted(entry):
    carried = {design.name for design in entry.designs}
    own = {name for design in entry.designs for name in design.field_names}
    for design in DESIGNS.values():
        foreign = [name for name in design.field_names if name not in own]
        if design.name in carried or not foreign:
            continue
        with pytest.raises(Exception, match="unknown design keys"):
            entry.config_class(**{foreign[0]: getattr(design.fields(), foreign[0])})
    entry.config_class(**entry.active_setting)


def test_no_stock_config_key_looks_like_a_design_key():
    """The refusal reads prefixes: a stock field with a design's prefix would make every config unbuildable."""
    prefixes = tuple(design.key_prefix for design in DESIGNS.values())
    for variant in STOCK_VARIANTS:
        assert not [key for key in variant.config.to_dict() if key.startswith(prefixes)], variant.name
