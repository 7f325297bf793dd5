"""Flattening hf_archs modules into self-contained checkpoint code."""

import pytest

from hf_archs import remote_code
from hf_archs.registry import ZOO


def test_flat_names():
    assert remote_code.flat_name("hf_archs.designs.semantic.modeling_semantic") == "modeling_semantic"
    assert remote_code.flat_name("hf_archs.designs.semantic.naive") == "designs_semantic_naive"
    assert remote_code.flat_name("hf_archs.core.attention") == "core_attention"


@pytest.mark.parametrize("entry", ZOO, ids=lambda e: e.model_type)
def test_every_zoo_model_bundles_into_code_free_of_hf_archs(entry):
    modules = sorted({cls.__module__ for cls in [entry.config_class, *entry.model_classes.values()]})
    files = remote_code.bundle(modules)
    # Code that travels with checkpoints never pulls in conversion, training or evaluation.
    assert not [name for name in files if name.startswith(("conversion", "training", "evaluation", "registry"))]
    for name, source in files.items():
        for line in source.splitlines():
            assert not line.lstrip().startswith(("import hf_archs", "from hf_archs", "from ..")), (name, line)
            if line.lstrip().startswith("from ."):
                assert line.split()[1][1:] + ".py" in files, (name, line)


def test_flat_name_collisions_are_refused(monkeypatch):
    monkeypatch.setattr(remote_code, "flat_name", lambda module_name: "same")
    with pytest.raises(RuntimeError, match="both flatten"):
        remote_code.bundle(["hf_archs.designs.semantic.naive", "hf_archs.core.attention"])
