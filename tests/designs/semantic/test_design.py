"""The semantic design's own fields: validation and layer selection, on every backbone it has."""

import pytest
import transformers

import hf_archs  # noqa: F401
from hf_archs.core.model import design_parameter_names
from hf_archs.registry import ZOO


SEMANTIC_ENTRIES = [entry for entry in ZOO if entry.design_name == "semantic"]


@pytest.mark.parametrize("entry", SEMANTIC_ENTRIES, ids=lambda e: e.model_type)
def test_contradictory_layers_are_refused(entry):
    for layers in ([0, 5], [1, 1]):
        with pytest.raises(Exception, match="semantic_layers"):
            entry.config_class(num_hidden_layers=2, semantic_layers=layers)


@pytest.mark.parametrize("entry", SEMANTIC_ENTRIES, ids=lambda e: e.model_type)
def test_semantic_layers_select_layers(entry):
    from hf_archs.testing import STOCK_VARIANTS

    variant = next(v for v in STOCK_VARIANTS if v.backbone == entry.backbone.name)
    config = entry.backbone.design_config(entry.config_class, variant.config, semantic_layers=[1])
    model = transformers.AutoModel.from_config(config)
    names = sorted(design_parameter_names(model))
    assert len(names) == 1 and ".1." in names[0] and names[0].endswith("semantic_tau.weight"), names
