"""Checkpoint folders: what travels with the weights, and `hf-archs check` for non-finite values."""

import shutil
from pathlib import Path

import torch
from safetensors import safe_open


def non_finite_tensors(directory: str | Path) -> dict[str, int]:
    """Tensor name -> number of NaN/inf values, over every safetensors file in `directory`."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"No *.safetensors files in {directory}.")
    bad = {}
    for path in files:
        with safe_open(path, framework="pt") as weights:
            for name in weights.keys():
                tensor = weights.get_tensor(name)
                if tensor.is_floating_point():
                    count = int((~torch.isfinite(tensor)).sum())
                    if count:
                        bad[name] = count
    return bad


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
