"""Convert a stock checkpoint into a design checkpoint that computes the same function at the identity setting."""

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoTokenizer

from ..backbones import backbone_for
from ..checkpoints import copy_auxiliary_files
from ..modules.design_model import design_parameter_names
from ..registry import check_design, zoo_model
from .model_card import write_model_card
from .verify import SAMPLE_TEXTS, compare_models, sample_batches


# Identity is checked in float32; DESIGN §4.3 asks for max |Δ| <= 1e-5.
IDENTITY_ATOL = 1e-5


class ConversionError(RuntimeError):
    pass


@dataclass
class ConversionReport:
    design: str
    model_type: str
    source: str
    output_dir: str
    source_architecture: str
    auto_class: str
    design_class: str
    new_parameters: list[str]
    design_settings: dict
    identity: bool
    # max |Δ| between source and converted outputs (fp32), per sample batch.
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    # The same for sentence-transformers embeddings, when the source is a sentence-transformers folder.
    sentence_embedding_max_abs_diff: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _without_load_report():
    """Transformers logs the design's new parameters as MISSING; the conversion reports them itself (and fails on
    unexpected or mismatched weights), so that report would only alarm."""
    logger = logging.getLogger("transformers.modeling_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _resolve_source(source: str) -> Path:
    if os.path.isdir(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    # Weights of other frameworks are not needed: the conversion reads safetensors (or PyTorch .bin).
    other_frameworks = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "onnx/*", "openvino/*", "coreml/*"]
    return Path(snapshot_download(repo_id=source, ignore_patterns=other_frameworks))


def _check_output_dir(output_dir: Path, force: bool) -> None:
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())) and not force:
        raise FileExistsError(
            f"{output_dir} already exists and is not empty; pass force=True (--force) to replace it."
        )


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt", "vocab.json")


def _load_tokenizer(path: Path):
    """The source's tokenizer, or None (verification then uses random token ids)."""
    if not any((path / name).exists() for name in _TOKENIZER_FILES):
        return None
    return AutoTokenizer.from_pretrained(path)


def _new_parameter_names(model, missing_keys) -> list[str]:
    """Parameters the source lacks must be the design's own (or biases the source family does not have)."""
    design_parameters = design_parameter_names(model)
    unexplained = [key for key in missing_keys if key not in design_parameters and not key.endswith(".bias")]
    if unexplained:
        raise ConversionError(f"The source checkpoint lacks weights the design needs: {unexplained[:5]}")
    with torch.no_grad():
        for key in missing_keys:
            if key not in design_parameters:  # e.g. Qwen2's o_proj, which has no bias: zero keeps the function
                model.get_parameter(key).zero_()
    return sorted(missing_keys)


def _sentence_embedding_difference(source_dir: Path, converted_dir: Path) -> float | None:
    if not (source_dir / "modules.json").exists():
        return None
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    source = SentenceTransformer(str(source_dir), device="cpu")
    converted = SentenceTransformer(str(converted_dir), device="cpu", trust_remote_code=True)
    expected = source.encode(SAMPLE_TEXTS, convert_to_tensor=True)
    actual = converted.encode(SAMPLE_TEXTS, convert_to_tensor=True)
    return (expected - actual).abs().max().item()


def convert(
    design: str,
    source: str,
    output_dir: str | os.PathLike,
    *,
    force: bool = False,
    design_settings: dict | None = None,
    verify: bool = True,
    progress: bool = True,
) -> ConversionReport:
    """Convert the stock checkpoint `source` (local folder or Hub id) into `design`, saved at `output_dir`.

    The weights are copied; the design's new parameters take the identity setting unless `design_settings`
    (config fields, e.g. `{"semantic_tau_init": 0.1}`) says otherwise. The result is written to a temporary folder,
    checked against the source on padded batches (an identity conversion that does not match fails), and only
    then renamed to `output_dir`: a failed conversion leaves nothing behind and never touches an existing folder.
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    check_design(design)
    _check_output_dir(output_dir, force)
    steps = tqdm(total=5, desc=f"convert to {design}", disable=not progress)

    steps.set_postfix_str("reading source")
    source_dir = _resolve_source(source)
    if output_dir.resolve() == source_dir.resolve():
        raise ValueError(
            f"The output folder must differ from the source ({source_dir}): converting in place would lose it."
        )
    source_config = AutoConfig.from_pretrained(source_dir)
    backbone = backbone_for(source_config)
    entry = zoo_model(design, backbone.name)
    auto_class = backbone.auto_class_of(source_config)
    if auto_class not in entry.model_classes:
        raise ConversionError(f"{entry.model_type} has no {auto_class} class (has: {sorted(entry.model_classes)}).")
    design_class = entry.model_classes[auto_class]
    settings = {**entry.identity_setting, **(design_settings or {})}
    config = backbone.design_config(entry.config_class, source_config, **settings)
    config.architectures = [design_class.__name__]
    identity = all(config.to_dict().get(key) == value for key, value in entry.identity_setting.items())
    steps.update()

    steps.set_postfix_str("copying weights")
    with _without_load_report():
        model, loading_info = design_class.from_pretrained(source_dir, config=config, output_loading_info=True)
    if loading_info["unexpected_keys"] or loading_info["mismatched_keys"]:
        raise ConversionError(
            f"Source weights that do not fit {design_class.__name__}: "
            f"{sorted(loading_info['unexpected_keys'])[:5]} {list(loading_info['mismatched_keys'])[:5]}"
        )
    new_parameters = _new_parameter_names(model, loading_info["missing_keys"])
    steps.update()

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        steps.set_postfix_str("saving")
        model.save_pretrained(staging)  # in the source's dtype: a bf16 checkpoint stays bf16
        copy_auxiliary_files(source_dir, staging)  # tokenizer, sentence-transformers modules, ...
        steps.update()

        report = ConversionReport(
            design=design,
            model_type=entry.model_type,
            source=str(source),
            output_dir=str(output_dir),
            source_architecture=(source_config.architectures or [auto_class])[0],
            auto_class=auto_class,
            design_class=design_class.__name__,
            new_parameters=new_parameters,
            design_settings=settings,
            identity=identity,
        )
        if verify:
            steps.set_postfix_str("verifying")
            stock_class = getattr(transformers, auto_class)
            reference = stock_class.from_pretrained(source_dir, dtype=torch.float32)
            converted = stock_class.from_pretrained(staging, dtype=torch.float32)
            batches = sample_batches(_load_tokenizer(source_dir), source_config.vocab_size)
            report.max_abs_diff = compare_models(reference, converted, batches)
            report.sentence_embedding_max_abs_diff = _sentence_embedding_difference(source_dir, staging)
            worst = max([*report.max_abs_diff.values(), report.sentence_embedding_max_abs_diff or 0.0])
            if identity and worst > IDENTITY_ATOL:
                raise ConversionError(
                    "The converted model does not reproduce the source at the identity setting: "
                    f"max |Δ| = {worst:.3g} "
                    f"> {IDENTITY_ATOL:g} ({report.max_abs_diff})."
                )
        steps.update()

        report.seconds = round(time.perf_counter() - start, 2)
        write_model_card(staging, entry, report, source_dir)
        (staging / "hf_archs_conversion.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        _replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        steps.close()
    return report


def _replace_dir(staging: Path, output_dir: Path) -> None:
    """Rename the finished folder into place; an existing one (force) is moved aside first and removed last."""
    previous = None
    if output_dir.exists():
        previous = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
        output_dir.rename(previous)
    staging.rename(output_dir)
    if previous is not None:
        shutil.rmtree(previous) if previous.is_dir() else previous.unlink()
