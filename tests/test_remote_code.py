"""Flattening hf_archs modules into self-contained checkpoint code."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import transformers

from hf_archs import remote_code
from hf_archs.core import compat
from hf_archs.registry import ZOO
from hf_archs.testing import CASES


def test_flat_names():
    assert remote_code.flat_name("hf_archs.designs.semantic.naive") == "designs_semantic_naive"
    assert remote_code.flat_name("hf_archs.core.attention") == "core_attention"


@pytest.mark.parametrize("entry", ZOO, ids=lambda e: e.model_type)
def test_every_zoo_model_bundles_into_code_free_of_hf_archs(entry):
    files = remote_code.bundle([], remote_code.entry_modules(entry))
    # Code that travels with checkpoints never pulls in conversion, training or evaluation.
    above_designs = ("conversion", "training", "evaluation", "registry", "models.")
    assert not [name for name in files if name.startswith(above_designs)]
    for name, source in files.items():
        for line in source.splitlines():
            assert not line.lstrip().startswith(("import hf_archs", "from hf_archs", "from ..")), (name, line)
            if line.lstrip().startswith("from ."):
                assert line.split()[1][1:] + ".py" in files, (name, line)


def test_flat_name_collisions_are_refused(monkeypatch):
    monkeypatch.setattr(remote_code, "flat_name", lambda module_name: "same")
    with pytest.raises(RuntimeError, match="both flatten"):
        remote_code.bundle(["hf_archs.designs.semantic.naive", "hf_archs.core.attention"])


def test_importing_a_module_from_its_package_is_refused():
    """Bug: `from ...core import flash` flattened to `from .core import flash`, and `core.py` (the package's
    `__init__`) has no `flash`: every saved kernel design's remote code failed to import (CI of 81181f6)."""
    with pytest.raises(RuntimeError, match="`from hf_archs.core import flash` imports a module"):
        remote_code.bundle([], {"entry": "from hf_archs.core import flash\n"})
    with pytest.raises(RuntimeError, match="import the names from hf_archs.core.flash"):
        remote_code.bundle([], {"entry": "from hf_archs.core import (\n    flash,  # the module\n)\n"})
    files = remote_code.bundle([], {"entry": "from hf_archs.core.flash import blocks, tile_valid as valid\n"})
    assert files["entry.py"].startswith("from .core_flash import blocks, tile_valid as valid")


@pytest.mark.slow
def test_saved_code_refuses_an_untested_transformers_release(converted, tmp_path):
    """Saved code runs under whatever Transformers the loading environment has: outside the tested range it must
    refuse at load, naming the range (5.24 renamed the KV cache argument and the code decoded wrong, silently)."""
    (case,) = [case for case in CASES if case.id == "semantic_llama-gqa_untied"]
    folder = tmp_path / "model"
    shutil.copytree(converted(case, active=True), folder)
    saved = (folder / "core_compat.py").read_text(encoding="utf-8")
    assert f'TRANSFORMERS_REQUIREMENT = "{compat.TRANSFORMERS_REQUIREMENT}"' in saved
    # The checkpoint as saved by a release of hf_archs whose tested range ends before the installed Transformers.
    untested = f"<{transformers.__version__}"
    (folder / "core_compat.py").write_text(
        saved.replace(compat.TRANSFORMERS_REQUIREMENT, untested, 1), encoding="utf-8"
    )
    script = textwrap.dedent(f"""
        import sys, transformers

        class BlockHfArchs:  # the checkpoint must bring its own code
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "hf_archs":
                    raise ImportError("hf_archs is blocked in this process")
        sys.meta_path.insert(0, BlockHfArchs())
        transformers.AutoModelForCausalLM.from_pretrained({str(folder)!r}, trust_remote_code=True)
    """)
    env = {key: value for key, value in os.environ.items() if key != compat.ALLOW_UNTESTED_ENV}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env
    )
    assert result.returncode != 0
    assert "UnsupportedTransformersError" in result.stderr, result.stderr[-3000:]
    assert f"tested on transformers{untested}; this environment has transformers {transformers.__version__}" in (
        result.stderr
    )
