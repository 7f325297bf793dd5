"""Self-contained code files beside a saved checkpoint, for `trust_remote_code=True` without hf_archs installed.

Transformers' dynamic-module loader only follows single-dot relative imports between files in one folder. The
package keeps its readable layout (`core/`, `backbones/`, `designs/<name>/`), and at save time the modules a model
needs are flattened into that folder with their hf_archs imports rewritten to `from .<flat_name> import ...`.

The model type's own classes are generated (`core/model_types.py`), so its entry files are written out as the
generating calls: `configuration_<model type>.py` builds the config class from the declarations of its designs and
backbone, `modeling_<model type>.py` the model classes; `auto_map` names the classes in those two files.
"""

import importlib
import importlib.util
import re
import sys
from pathlib import Path


PACKAGE = __name__.split(".")[0]
_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from[ \t]+(?P<target>\.+[\w.]*|" + PACKAGE + r"(?:\.\w+)*)[ \t]+import\b", re.M
)
_BARE_IMPORT = re.compile(r"^[ \t]*import[ \t]+" + PACKAGE + r"\b", re.M)


def flat_name(module_name: str) -> str:
    """Flat file stem of a package module, prefixed by its package path so that none collide
    (`core/attention.py` -> `core_attention`). Generated modules (`bundle(generated=...)`) are flat already."""
    return "_".join(module_name.split(".")[1:])


def _source_and_package(module_name: str) -> tuple[str, str] | tuple[None, None]:
    spec = importlib.util.find_spec(module_name)
    if spec is None:  # an optional module (imported inside try/except) that this installation lacks
        return None, None
    is_package = spec.submodule_search_locations is not None
    package = module_name if is_package else module_name.rpartition(".")[0]
    return Path(spec.origin).read_text(encoding="utf-8"), package


def _imported_names(source: str, start: int) -> list[str]:
    """The names of the `from X import ...` statement whose `import` keyword ends at `start` (parenthesized or not;
    `as` aliases dropped)."""
    rest = source[start:].lstrip(" \t")
    text = rest[1 : rest.index(")")] if rest.startswith("(") else rest.split("\n", 1)[0]
    text = re.sub(r"#[^\n]*", "", text)
    return [part.split()[0] for part in text.split(",") if part.split()]


def _is_submodule(package: str, name: str) -> bool:
    """Whether `from package import name` imports a module (flattened, the module is a file of its own)."""
    spec = importlib.util.find_spec(package)
    return (
        spec is not None
        and spec.submodule_search_locations is not None
        and (importlib.util.find_spec(f"{package}.{name}") is not None)
    )


def bundle(module_names: list[str], generated: dict[str, str] | None = None) -> dict[str, str]:
    """Flat file name -> source text for the given package modules and every package module they import.

    `generated`: module name -> source of modules written for the bundle (not files of the package), importing
    package modules absolutely and each other by name (`from .configuration_x import ...`, left as it is)."""
    generated = generated or {}
    files: dict[str, str] = {}
    origins: dict[str, str] = {}
    pending = [*module_names, *generated]
    while pending:
        module_name = pending.pop()
        name = (module_name if module_name in generated else flat_name(module_name)) + ".py"
        if name in files:
            if origins[name] != module_name:
                raise RuntimeError(f"{module_name} and {origins[name]} both flatten to {name}: rename one.")
            continue
        if module_name in generated:
            source, package = generated[module_name], PACKAGE
        else:
            source, package = _source_and_package(module_name)
        if source is None:
            continue
        if _BARE_IMPORT.search(source):
            raise RuntimeError(
                f"{module_name} uses `import {PACKAGE}...`; travelling code must use `from ... import`."
            )

        def rewrite(match: re.Match) -> str:
            if match["target"][1:] in generated and match["target"].count(".") == 1:
                return match[0]  # between generated modules: already flat
            target = importlib.util.resolve_name(match["target"], package)
            if target == package and match["target"].strip(".") == "":
                raise RuntimeError(f"{module_name}: `from . import x` cannot be flattened; import from the module.")
            submodules = [name for name in _imported_names(source, match.end()) if _is_submodule(target, name)]
            if submodules:
                raise RuntimeError(
                    f"{module_name}: `from {match['target']} import {submodules[0]}` imports a module, which cannot "
                    f"be flattened; import the names from {target}.{submodules[0]}."
                )
            pending.append(target)
            return f"{match['indent']}from .{flat_name(target)} import"

        files[name] = _IMPORT.sub(rewrite, source)
        origins[name] = module_name
    return files


def _declaration(obj) -> tuple[str, str]:
    """(module, name) of the package module that declares `obj` at top level: of the modules binding it, the one whose
    source assigns that name (the others import it)."""
    found = []
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] != PACKAGE or not getattr(module, "__file__", None):
            continue
        for name, value in vars(module).items():
            if value is obj:
                source = Path(module.__file__).read_text(encoding="utf-8")
                if re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, re.M):
                    found.append((module_name, name))
    if len(found) != 1:
        raise RuntimeError(f"{obj!r} must be declared by exactly one module-level assignment; found {found}.")
    return found[0]


def _import_line(module_name: str, names: list[str]) -> str:
    return f"from {module_name} import {', '.join(sorted(names))}\n"


def entry_modules(entry) -> dict[str, str]:
    """Module name -> source of a model type's two generated entry modules (`configuration_<model type>`,
    `modeling_<model type>`), which rebuild its classes by the calls the registry makes."""
    from .core import model_types

    config_class = entry.config_class
    config_module, model_module = f"configuration_{entry.model_type}", f"modeling_{entry.model_type}"
    declarations = [_declaration(design) for design in entry.designs] + [_declaration(entry.backbone)]
    imports = {}
    for module_name, name in declarations:
        imports.setdefault(module_name, []).append(name)
    design_names = [name for _, name in declarations[:-1]]
    designs = f"({design_names[0]},)" if len(design_names) == 1 else f"({', '.join(design_names)})"
    header = f'"""{{}} of the `{entry.model_type}` model type, generated by hf_archs."""\n\n'
    config_source = (
        header.format(config_class.__name__)
        + _import_line(model_types.__name__, ["design_config_class"])
        + "".join(_import_line(module_name, names) for module_name, names in sorted(imports.items()))
        + f"\n\n{config_class.__name__} = design_config_class({designs}, {declarations[-1][1]}, module=__name__)\n"
    )
    model_names = [entry.pretrained_class.__name__, *(cls.__name__ for cls in entry.model_classes.values())]
    model_source = (
        header.format("The model classes")
        + _import_line(model_types.__name__, ["design_model_classes"])
        + f"from .{config_module} import {config_class.__name__}\n\n\n"
        + f"_classes = design_model_classes({config_class.__name__}, module=__name__)\n"
        + f"{model_names[0]} = _classes.pretrained\n"
        + "".join(f'{cls.__name__} = _classes.by_auto["{auto}"]\n' for auto, cls in entry.model_classes.items())
    )
    return {config_module: config_source, model_module: model_source}


class RemoteCodeExporter:
    """Installed as `design_model.REMOTE_CODE_EXPORTER` by `import hf_archs`."""

    def _entry(self, config):
        from .registry import zoo_model_for_type

        return zoo_model_for_type(config.model_type)

    def auto_map(self, config) -> dict[str, str]:
        entry = self._entry(config)
        return {
            "AutoConfig": f"configuration_{entry.model_type}.{entry.config_class.__name__}",
            **{auto: f"modeling_{entry.model_type}.{cls.__name__}" for auto, cls in entry.model_classes.items()},
        }

    def write_code(self, config, save_directory) -> list[Path]:
        written = []
        for name, source in bundle([], entry_modules(self._entry(config))).items():
            path = Path(save_directory) / name
            path.write_text(source, encoding="utf-8")
            written.append(path)
        return written
