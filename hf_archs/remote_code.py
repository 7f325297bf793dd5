"""Self-contained code files beside a saved checkpoint, for `trust_remote_code=True` without hf_archs installed.

Transformers' dynamic-module loader only follows single-dot relative imports between files in one folder. The
package keeps its readable layout (`models/`, `modules/`, `ops/`), and at save time the modules a model needs are
flattened into that folder with their hf_archs imports rewritten to `from .<flat_name> import ...`.
"""

import importlib
import importlib.util
import re
from pathlib import Path


PACKAGE = __name__.split(".")[0]
_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from[ \t]+(?P<target>\.+[\w.]*|" + PACKAGE + r"(?:\.\w+)*)[ \t]+import\b", re.M
)
_BARE_IMPORT = re.compile(r"^[ \t]*import[ \t]+" + PACKAGE + r"\b", re.M)


def flat_name(module_name: str) -> str:
    """Flat file stem of a package module: model files keep their names (they appear in `auto_map`); the shared
    modules are prefixed by their package path so they cannot collide (`core/attention.py` -> `core_attention`)."""
    parts = module_name.split(".")[1:]
    if parts[-1].startswith(("configuration_", "modeling_")):
        return parts[-1]
    return "_".join(parts)


def _source_and_package(module_name: str) -> tuple[str, str] | tuple[None, None]:
    spec = importlib.util.find_spec(module_name)
    if spec is None:  # an optional module (imported inside try/except) that this installation lacks
        return None, None
    is_package = spec.submodule_search_locations is not None
    package = module_name if is_package else module_name.rpartition(".")[0]
    return Path(spec.origin).read_text(encoding="utf-8"), package


def bundle(module_names: list[str]) -> dict[str, str]:
    """Flat file name -> source text for the given package modules and every package module they import."""
    files: dict[str, str] = {}
    origins: dict[str, str] = {}
    pending = list(module_names)
    while pending:
        module_name = pending.pop()
        name = flat_name(module_name) + ".py"
        if name in files:
            if origins[name] != module_name:
                raise RuntimeError(f"{module_name} and {origins[name]} both flatten to {name}: rename one.")
            continue
        source, package = _source_and_package(module_name)
        if source is None:
            continue
        if _BARE_IMPORT.search(source):
            raise RuntimeError(
                f"{module_name} uses `import {PACKAGE}...`; travelling code must use `from ... import`."
            )

        def rewrite(match: re.Match) -> str:
            target = importlib.util.resolve_name(match["target"], package)
            if target == package and match["target"].strip(".") == "":
                raise RuntimeError(f"{module_name}: `from . import x` cannot be flattened; import from the module.")
            pending.append(target)
            return f"{match['indent']}from .{flat_name(target)} import"

        files[name] = _IMPORT.sub(rewrite, source)
        origins[name] = module_name
    return files


class RemoteCodeExporter:
    """Installed as `design_model.REMOTE_CODE_EXPORTER` by `import hf_archs`."""

    def _classes(self, config):
        from .registry import zoo_model_for_type

        entry = zoo_model_for_type(config.model_type)
        return {"AutoConfig": entry.config_class, **entry.model_classes}

    def auto_map(self, config) -> dict[str, str]:
        return {auto: f"{flat_name(cls.__module__)}.{cls.__name__}" for auto, cls in self._classes(config).items()}

    def write_code(self, config, save_directory) -> list[Path]:
        modules = sorted({cls.__module__ for cls in self._classes(config).values()})
        written = []
        for name, source in bundle(modules).items():
            path = Path(save_directory) / name
            path.write_text(source, encoding="utf-8")
            written.append(path)
        return written
