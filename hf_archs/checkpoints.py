"""Checkpoint folders: what travels with the weights, and `hf-archs check` for non-finite values."""

import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open


def non_finite_tensors(directory: str | Path) -> dict[str, int]:
    """Tensor name -> number of NaN/inf values, over every safetensors file in `directory` (an unreadable file is
    refused by name)."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"No *.safetensors files in {directory}.")
    bad = {}
    for path in files:
        try:
            with safe_open(path, framework="pt") as weights:
                for name in weights.keys():
                    tensor = weights.get_tensor(name)
                    if tensor.is_floating_point():
                        count = int((~torch.isfinite(tensor)).sum())
                        if count:
                            bad[name] = count
        except Exception as error:  # safetensors' own errors name no file
            from .errors import UserError

            raise UserError(f"{path} is not a readable safetensors file (truncated or corrupt).") from error
    return bad


# Any of these makes a folder's tokenizer loadable; without them AutoTokenizer asks for unrelated packages.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt", "vocab.json")


def has_tokenizer(directory: str | Path) -> bool:
    return any((Path(directory) / name).exists() for name in TOKENIZER_FILES)


def load_tokenizer(directory: str | Path, trust_remote_code: bool = False):
    """The tokenizer of a model folder; a folder without one is refused by name (not with a request for
    sentencepiece, which is what AutoTokenizer says then)."""
    from transformers import AutoTokenizer

    from .errors import UserError

    if Path(directory).is_dir() and not has_tokenizer(directory):
        raise UserError(
            f"{directory} has no tokenizer (none of {list(TOKENIZER_FILES)}); copy its source's tokenizer files "
            "into it (`hf-archs convert` does)."
        )
    return AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)


def tokenizer_or_none(directory: str | Path):
    """A source folder's tokenizer, or None when it has none (a GGUF without vocabulary, a random test model)."""
    return load_tokenizer(directory) if has_tokenizer(directory) else None


# What a model folder holds besides its weights, config and card: tokenizer, generation config,
# sentence-transformers modules (modules.json, 1_Pooling/, ...). Weights of any framework and reports stay behind.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".onnx", ".ot", ".pt", ".pth")
_NOT_AUXILIARY = {
    "config.json",
    "README.md",
    ".git",
    ".gitattributes",
    "onnx",
    "openvino",
    "model.safetensors.index.json",
    "hf_archs_conversion.json",
}


def copy_auxiliary_files(source_dir: Path, target_dir: Path) -> None:
    """Copy the non-weight files of `source_dir` that `target_dir` does not have yet (what the target already holds,
    e.g. a freshly saved tokenizer, wins)."""
    for item in Path(source_dir).iterdir():
        target = Path(target_dir) / item.name
        if item.name in _NOT_AUXILIARY or item.suffix in _WEIGHT_SUFFIXES or target.exists():
            continue
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)


def build_once(path: Path, build: Callable[[Path], None], done: Path, note: str = "") -> Path:
    """`path`, made by `build(path)` unless the marker file `done` exists. Processes sharing the folder (pytest-xdist
    workers, jobs on one cache) build it once: the others wait behind a file lock, then reuse it. The marker is
    written last, so a build that failed is made again."""
    from filelock import FileLock

    if done.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / f"{path.name}.lock")):
        if not done.exists():
            build(path)
            done.write_text(note)
    return path
