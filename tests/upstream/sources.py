"""Transformers' own common model tests, taken from the source distribution of the installed version.

`ModelTesterMixin` (tests/test_modeling_common.py) and `ConfigTester` (tests/test_configuration_common.py) are not
in the wheel; the sdist on PyPI ships them. `common_tests()` downloads the sdist once per machine (`pip download`,
so only PyPI is needed), keeps those two files in `<cache>/transformers-tests-<version>/` and imports them. It raises
`UpstreamTestsUnavailable`, naming the command that failed, when the sdist cannot be had: the tier fails, never
skips, without its tests.

The sdist does not ship three modules the two files import; they are supplied here, in `sys.modules`:
- `generation.test_utils.GenerationTesterMixin` (tests/generation/ is not shipped): an empty mixin. Upstream checks
  that a model which can generate inherits it; the generation tests themselves are the project's own (issue 18,
  point 2).
- `exporters.test_export.ExportTesterMixin` (tests/exporters/ is not shipped): an empty mixin, so no export tests
  (issue 18, point 4).
- `utils.test_configuration_utils.config_common_kwargs` (tests/utils/ is not shipped): the values below.
"""

import importlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import transformers

from hf_archs.conversion.gguf import default_cache_dir


PACKAGE = "transformers_common_tests"
FILES = ("test_modeling_common.py", "test_configuration_common.py")
_COMPLETE_MARKER = ".complete"

# Copied from tests/utils/test_configuration_utils.py of Transformers 5.x (`config_common_kwargs`, not in the sdist):
# a non-default value for each common config attribute, which `ConfigTester.check_config_arguments_init` passes to
# the config class and expects back.
CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "problem_type": "regression",
}


class UpstreamTestsUnavailable(RuntimeError):
    """The installed Transformers' source distribution (and so its common tests) could not be obtained."""


class GenerationTesterMixin:
    """Stands for tests/generation/test_utils.py's mixin, which the sdist does not ship."""


class ExportTesterMixin:
    """Stands for tests/exporters/test_export.py's mixin, which the sdist does not ship."""


def tests_dir(version: str = transformers.__version__) -> Path:
    """The folder holding the common tests of Transformers `version` as package `PACKAGE` (fetched on first use)."""
    root = default_cache_dir() / f"transformers-tests-{version}"
    if (root / PACKAGE / _COMPLETE_MARKER).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as staging:
        staging = Path(staging)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"transformers=={version}",
            "-d",
            str(staging / "sdist"),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        archives = list((staging / "sdist").glob(f"transformers-{version}.tar.gz"))
        if result.returncode != 0 or not archives:
            raise UpstreamTestsUnavailable(
                f"Transformers' common model tests come from its source distribution, which could not be had: "
                f"`{' '.join(command)}` exited {result.returncode}:\n{result.stderr[-2000:]}"
            )
        package = staging / "tree" / PACKAGE
        package.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            for name in FILES:
                member = archive.extractfile(f"transformers-{version}/tests/{name}")
                (package / name).write_bytes(member.read())
        # An empty __init__ also serves `direct_transformers_import(tests folder)` of test_configuration_common.py,
        # which executes that folder's __init__.py.
        (package / "__init__.py").write_text("")
        (package / _COMPLETE_MARKER).write_text(f"transformers {version} sdist\n")
        try:
            os.rename(staging / "tree", root)
        except OSError:
            # Another process (a pytest-xdist worker) finished first.
            if not (root / PACKAGE / _COMPLETE_MARKER).exists():
                shutil.rmtree(root, ignore_errors=True)
                os.rename(staging / "tree", root)
    return root


def _supply(name: str, **attributes) -> None:
    """Put module `PACKAGE.name` (and its parents) in `sys.modules` with `attributes`."""
    parts = f"{PACKAGE}.{name}".split(".")
    for i in range(2, len(parts) + 1):
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    vars(sys.modules[".".join(parts)]).update(attributes)


def common_tests() -> tuple[types.ModuleType, types.ModuleType]:
    """(test_modeling_common, test_configuration_common) of the installed Transformers."""
    root = str(tests_dir())
    if root not in sys.path:
        sys.path.insert(0, root)
    _supply("generation.test_utils", GenerationTesterMixin=GenerationTesterMixin)
    _supply("exporters.test_export", ExportTesterMixin=ExportTesterMixin)
    _supply("utils.test_configuration_utils", config_common_kwargs=CONFIG_COMMON_KWARGS)
    return (
        importlib.import_module(f"{PACKAGE}.test_modeling_common"),
        importlib.import_module(f"{PACKAGE}.test_configuration_common"),
    )
