"""Convert a stock checkpoint into a design checkpoint: a pipeline run with the design's conversion plan.

resolve the source (folder, Hub id or .gguf file) -> design config (settings checked against the design's
fields) -> copy the stock weights -> initialize the new parts (the design's own init, or the plan's fit or
training) -> save to a staging folder -> release the source -> verify against the source at the plan's
fidelity -> model card and report -> atomic rename.
"""

import contextlib
import gc
import importlib
import json
import logging
import math
import os
import shutil
import struct
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers
from huggingface_hub.errors import StrictDataclassError
from tqdm.auto import tqdm
from transformers import AutoConfig

from ..backbones import UnsupportedSourceError, backbone_for
from ..checkpoints import copy_auxiliary_files, tokenizer_or_none
from ..core.model import design_state_names
from ..errors import UserError
from ..registry import zoo_model
from .model_card import write_model_card
from .verify import SAMPLE_TEXTS, compare_models, sample_batches


# Identity is checked in float32: max |Δ| <= 1e-5 unless a design's plan declares otherwise.
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
    # The declared fidelity: max |Δ| allowed at the identity setting.
    fidelity_atol: float = IDENTITY_ATOL
    # max |Δ| between source and converted outputs (fp32), per sample batch.
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    # The same for sentence-transformers embeddings, when the source is a sentence-transformers folder.
    sentence_embedding_max_abs_diff: float | None = None
    # What `ConversionPlan.initialize` measured (a fit's error, a transfer's loss before and after), by name.
    initialization: dict = field(default_factory=dict)
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


def _looks_like_a_path(source: str) -> bool:
    """A Hub id is `name` or `owner/name`; anything else (./x, /x, ~/x, a/b/c, x.gguf) can only be a local path."""
    other_separator = os.sep != "/" and os.sep in source
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or source.endswith(".gguf") or other_separator


@contextlib.contextmanager
def _resolved_source(source: str):
    """The source as a local stock checkpoint folder: a folder as is, a Hub id downloaded, a .gguf file dequantized
    into a temporary folder (removed afterwards)."""
    if os.path.isdir(source):
        yield Path(source)
    elif os.path.isfile(source):
        if not str(source).endswith(".gguf"):
            raise UserError(f"--from {source} is a file; expected a checkpoint folder, a Hub id or a .gguf file.")
        from .gguf import dequantize_gguf

        with tempfile.TemporaryDirectory(prefix="hf-archs-gguf-") as scratch:
            try:
                folder = dequantize_gguf(source, Path(scratch) / "stock", progress=False)
            except (ValueError, OSError, EOFError, struct.error) as error:  # truncated or foreign files
                raise UserError(f"{source} is not a readable GGUF file (truncated or corrupt).") from error
            yield folder
    elif _looks_like_a_path(str(source)):
        raise FileNotFoundError(f"No checkpoint folder or file at {source}.")
    else:
        from huggingface_hub import snapshot_download

        # Weights of other frameworks are not needed: the conversion reads safetensors (or PyTorch .bin).
        other_frameworks = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "onnx/*", "openvino/*", "coreml/*"]
        try:
            folder = snapshot_download(repo_id=source, ignore_patterns=other_frameworks)
        except Exception as error:  # offline, unknown repo, invalid id: all say the same to the user
            raise UserError(
                f"--from {source}: no local folder or file of that name, and it could not be fetched from the "
                "Hugging Face Hub."
            ) from error
        yield Path(folder)


# The report that an `hf-archs convert` output folder holds, with the list of the files that conversion wrote.
_CONVERSION_MARKER = "hf_archs_conversion.json"


def _check_output_dir(output_dir: Path, force: bool) -> None:
    """A non-empty output folder is refused; with force, only a folder that an earlier conversion wrote (its
    hf_archs_conversion.json lists its files) and that holds nothing else is replaced, so force never deletes what a
    conversion did not write."""
    if not output_dir.exists() or (output_dir.is_dir() and not any(output_dir.iterdir())):
        return
    if not force:
        raise FileExistsError(
            f"{output_dir} already exists and is not empty; pass force=True (--force) to replace it "
            "(only a folder written by an earlier conversion is replaced)."
        )
    marker = output_dir / _CONVERSION_MARKER
    if not output_dir.is_dir() or not marker.is_file():
        raise FileExistsError(
            f"{output_dir} is not a folder written by `hf-archs convert` (it has no {_CONVERSION_MARKER}); --force "
            "replaces only such folders. Choose another --out, or remove it yourself."
        )
    written = set(json.loads(marker.read_text()).get("files", []))
    present = {str(p.relative_to(output_dir)) for p in output_dir.rglob("*") if not p.is_dir()} - {_CONVERSION_MARKER}
    if not written or present - written:
        raise FileExistsError(
            f"{output_dir} holds files that the conversion did not write ({sorted(present - written)[:5]}); --force "
            "replaces only an unchanged conversion. Move them, or remove the folder yourself."
        )


def _check_source_and_output(source_dir: Path, output_dir: Path) -> None:
    """The output must be neither the source, nor inside it (staging would be copied into itself), nor above it
    (replacing it would delete the source)."""
    source, output = source_dir.resolve(), output_dir.resolve()
    if output == source or source in output.parents or output in source.parents:
        raise UserError(
            f"--out {output_dir} must lie outside the source folder {source_dir} and not contain it: converting "
            "there would lose or corrupt the source."
        )


def _check_source_weights(source_dir: Path) -> None:
    """Refuse unreadable (truncated, random) or non-finite source weights before anything is built from them."""
    from ..checkpoints import non_finite_tensors

    if not list(source_dir.glob("*.safetensors")):
        return  # PyTorch .bin weights: Transformers reads and reports them
    bad = non_finite_tensors(source_dir)
    if bad:
        raise UserError(
            f"The source {source_dir} has non-finite weights ({sum(bad.values())} values in {sorted(bad)[:5]}); "
            "a conversion cannot be verified against it."
        )


def _new_parameter_names(model, missing_keys, absent_in_source: tuple[str, ...]) -> list[str]:
    """Weights the source lacks must be the design's own, or ones its family does not have (zeroed here)."""
    design_state = design_state_names(model)
    absent = [key for key in missing_keys if key not in design_state]
    unexplained = [key for key in absent if not key.endswith(absent_in_source)]
    if unexplained:
        raise ConversionError(f"The source checkpoint lacks weights the design needs: {unexplained[:5]}")
    with torch.no_grad():
        for key in absent:  # e.g. Qwen2's o_proj, which has no bias: zero keeps the function
            model.get_parameter(key).zero_()
    return sorted(missing_keys)


def _sentence_embedding_difference(source_dir: Path, converted_dir: Path) -> float | None:
    if not (source_dir / "modules.json").exists():
        return None
    from sentence_transformers import SentenceTransformer

    source = SentenceTransformer(str(source_dir), device="cpu")
    converted = SentenceTransformer(str(converted_dir), device="cpu", trust_remote_code=True)
    expected = source.encode(SAMPLE_TEXTS, convert_to_tensor=True)
    actual = converted.encode(SAMPLE_TEXTS, convert_to_tensor=True)
    return (expected - actual).abs().max().item()


def _run_plan_initializer(path: str, model, source_dir: Path, report: "ConversionReport") -> None:
    """Run a design's `ConversionPlan.initialize` ("package.module:function") on the freshly copied model."""
    module_name, _, function_name = path.partition(":")
    getattr(importlib.import_module(module_name), function_name)(model, source_dir, report)


def convert(
    design: str,
    source: str,
    output_dir: str | os.PathLike,
    *,
    force: bool = False,
    design_settings: dict | None = None,
    verify: bool = True,
    progress: bool = True,
    seed: int = 0,
) -> ConversionReport:
    """Convert the stock checkpoint `source` (local folder, Hub id or .gguf file) into `design`, saved at
    `output_dir`.

    The weights are copied; the design's new parameters take the identity setting unless `design_settings`
    (fields of the design, e.g. `{"semantic_tau_init": 0.1}`; unknown keys are refused) says otherwise. The result
    is written to a temporary folder, checked against the source on padded batches (at the identity setting it must
    match within the design's declared fidelity), and only then renamed to `output_dir`: a failed conversion leaves
    nothing behind and never touches an existing folder. New parameters that the identity setting leaves random are
    drawn under `seed` (the caller's random state is left as it was), so a conversion is reproducible.
    """
    start = time.perf_counter()
    output_dir = Path(output_dir)
    if os.path.isdir(source):  # before the force rule, which would name a lesser problem
        _check_source_and_output(Path(source), output_dir)
    _check_output_dir(output_dir, force)
    design_settings = dict(design_settings or {})
    with (
        _resolved_source(source) as source_dir,
        tqdm(total=5, desc=f"convert to {design}", disable=not progress) as steps,
    ):
        steps.set_postfix_str("reading source")
        _check_source_and_output(source_dir, output_dir)
        try:
            source_config = AutoConfig.from_pretrained(source_dir)
        except (OSError, ValueError) as error:
            raise UserError(f"{source_dir} holds no readable checkpoint config (config.json).") from error
        _check_source_weights(source_dir)
        backbone = backbone_for(source_config)
        entry = zoo_model(design, backbone.name)
        for part in entry.designs:
            part.check_settings({k: v for k, v in design_settings.items() if k.startswith(part.key_prefix)})
        foreign = [k for k in design_settings if not k.startswith(tuple(d.key_prefix for d in entry.designs))]
        if foreign:
            entry.designs[0].check_settings(design_settings)  # names the fields the user may set
        auto_class = backbone.auto_class_of(source_config)
        if auto_class not in entry.model_classes:
            raise ConversionError(
                f"{entry.model_type} has no {auto_class} class (has: {sorted(entry.model_classes)})."
            )
        design_class = entry.model_classes[auto_class]
        settings = {**entry.conversion_setting, **design_settings}
        try:
            config = backbone.design_config(entry.config_class, source_config, **settings)
        except UnsupportedSourceError:
            raise
        except (ValueError, TypeError, StrictDataclassError) as error:  # the config's own checks name the field
            raise UserError(f"Invalid design settings {design_settings}: {error}") from error
        config.architectures = [design_class.__name__]
        # A "trained" design has no identity setting: its conversion is a short training, only reported.
        identity = all(getattr(config, key) == value for key, value in entry.conversion_setting.items()) and all(
            part.capabilities.conversion != "trained" for part in entry.designs
        )
        steps.update()

        steps.set_postfix_str("copying weights")
        with _without_load_report(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, loading_info = design_class.from_pretrained(source_dir, config=config, output_loading_info=True)
        replaced = tuple(suffix for part in entry.designs for suffix in part.conversion.replaces)
        unexpected = [key for key in loading_info["unexpected_keys"] if not (replaced and key.endswith(replaced))]
        if unexpected or loading_info["mismatched_keys"]:
            raise ConversionError(
                f"Source weights that do not fit {design_class.__name__}: "
                f"{sorted(unexpected)[:5]} {list(loading_info['mismatched_keys'])[:5]}"
            )
        report = ConversionReport(
            design=design,
            model_type=entry.model_type,
            source=str(source),
            output_dir=str(output_dir),
            source_architecture=(source_config.architectures or [auto_class])[0],
            auto_class=auto_class,
            design_class=design_class.__name__,
            new_parameters=_new_parameter_names(
                model, loading_info["missing_keys"], backbone.absent_in_source(source_config)
            ),
            design_settings=settings,
            identity=identity,
            fidelity_atol=max(part.conversion.atol for part in entry.designs),
        )
        for part in entry.designs:
            if part.conversion.initialize:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    _run_plan_initializer(part.conversion.initialize, model, source_dir, report)
        steps.update()

        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
        staging.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        try:
            steps.set_postfix_str("saving")
            model.save_pretrained(staging)  # in the source's dtype: a bf16 checkpoint stays bf16
            copy_auxiliary_files(source_dir, staging)  # tokenizer, sentence-transformers modules, ...
            del model  # verification loads two float32 copies: release this one first
            gc.collect()
            steps.update()

            if verify:
                steps.set_postfix_str("verifying")
                _verify(report, source_dir, staging, source_config, auto_class)
            steps.update()

            report.seconds = round(time.perf_counter() - start, 2)
            write_model_card(staging, entry, report, source_dir)
            # The files this conversion wrote, so that --force later replaces this folder and nothing else.
            files = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
            (staging / _CONVERSION_MARKER).write_text(
                json.dumps({**report.to_dict(), "files": files}, indent=2) + "\n"
            )
            _replace_dir(staging, output_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return report


def _verify(report: "ConversionReport", source_dir: Path, converted_dir: Path, source_config, auto_class: str):
    """Compare source and converted outputs in float32; at the identity setting they must agree within the plan's
    fidelity, otherwise the difference is only reported."""
    stock_class = getattr(transformers, auto_class)
    reference = stock_class.from_pretrained(source_dir, dtype=torch.float32)
    converted = stock_class.from_pretrained(converted_dir, dtype=torch.float32)
    batches = sample_batches(tokenizer_or_none(source_dir), source_config.vocab_size)  # None: random ids
    report.max_abs_diff = compare_models(reference, converted, batches)
    del reference, converted
    report.sentence_embedding_max_abs_diff = _sentence_embedding_difference(source_dir, converted_dir)
    differences = [*report.max_abs_diff.values(), report.sentence_embedding_max_abs_diff or 0.0]
    if not all(math.isfinite(d) for d in differences):  # NaN > atol is False: test finiteness first
        raise ConversionError(
            f"The converted model's outputs are not finite (max |Δ| {report.max_abs_diff}); nothing was written."
        )
    worst = max(differences)
    if report.identity and worst > report.fidelity_atol:
        raise ConversionError(
            "The converted model does not reproduce the source at the identity setting: "
            f"max |Δ| = {worst:.3g} > {report.fidelity_atol:g} ({report.max_abs_diff})."
        )


def _replace_dir(staging: Path, output_dir: Path) -> None:
    """Rename the finished folder into place; an existing one (force) is moved aside first and removed last."""
    previous = None
    if output_dir.exists():
        previous = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
        output_dir.rename(previous)
    staging.rename(output_dir)
    if previous is not None:
        shutil.rmtree(previous) if previous.is_dir() else previous.unlink()
