"""JSON records of evaluations: what was measured, on what, with which budget and software."""

from __future__ import annotations

import datetime
import hashlib
import json
import lzma
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


RECORD_VERSION = 1
# Written by `save_pretrained`, not part of what the model computes.
_VOLATILE_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash")


def config_hash(model_path: str | Path) -> str:
    """Hash of a model folder's `config.json` (minus volatile keys): two folders of the same architecture and
    settings share it. Weights are not hashed (large); the path and the time tell trained copies apart."""
    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        return "no-config"
    config = json.loads(config_file.read_text())
    for key in _VOLATILE_CONFIG_KEYS:
        config.pop(key, None)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


# Files whose bytes are the model's weights (any framework), hashed by `weights_hash`.
_WEIGHT_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def weights_hash(model_path: str | Path) -> str:
    """Hash of a model folder's weight files (names and bytes, top level, sorted): two folders share it only when
    their weights are identical. "" for a folder without weight files."""
    files = sorted(p for p in Path(model_path).glob("*") if p.is_file() and p.suffix in _WEIGHT_FILE_SUFFIXES)
    if not files:
        return ""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def code_commit() -> str | None:
    """The git commit of the hf_archs code that runs (short hash, "+dirty" when tracked files differ from it), or None
    outside a git checkout (an installed wheel): the code version a record was made with."""
    import subprocess

    package = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(package), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def library_versions() -> dict[str, str]:
    import accelerate
    import peft
    import torch
    import transformers

    from ..version import __version__

    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
        "hf_archs": __version__,
        "hf_archs_commit": code_commit(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu x{os.cpu_count()}",
    }
    return versions


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class EvalRecord:
    """One model evaluated on one task with one budget and seed (trained first by `compare`, as-is by `eval`).

    `items` holds the per-held-out-item values behind each metric (for the paired bootstrap); `weights` the
    per-item weights (token counts for losses) where the metric is a weighted mean.
    """

    task: str
    model_path: str
    config_hash: str
    seed: int
    budget: dict
    metrics: dict[str, float]
    items: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # train loss curve, seconds, trainable params, ... (compare)
    details: dict = field(default_factory=dict)  # task-specific extras (e.g. per-length metrics)
    role: str = "model"  # "design", "stock" (compare) or "model" (eval)
    versions: dict = field(default_factory=library_versions)
    time: str = field(default_factory=now_utc)
    seconds: float = 0.0
    record_version: int = RECORD_VERSION
    weights_hash: str = ""  # of the evaluated (before training) folder's weights; "" in records made before it

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EvalRecord:
        return cls(**data)

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> EvalRecord:
        return cls.from_dict(read_json(path))


# One compressed file per run holds every per-seed record (per-item arrays included) under its
# `seed_<s>/<role>.json` name: the repository keeps one small file per run, not three per seed.
RECORDS_ARCHIVE = "records.json.xz"


def run_records(run_dir: str | Path) -> dict[str, EvalRecord]:
    """Every `EvalRecord` of a run folder by its name `seed_<s>/<role>.json`: the archive (`RECORDS_ARCHIVE`)
    overlaid by the per-seed files a run writes while it is under way (git-ignored). An unreadable per-seed file (a
    killed run) is left out, so it is re-run."""
    return {name: EvalRecord.from_dict(data) for name, data in _stored_records(Path(run_dir)).items()}


def _stored_records(run_dir: Path) -> dict[str, dict]:
    records = {}
    archive = run_dir / RECORDS_ARCHIVE
    if archive.is_file():
        records = read_json(archive)
    for path in sorted(run_dir.glob("seed_*/*.json")):
        try:
            data = read_json(path)
            EvalRecord.from_dict(data)
        except (json.JSONDecodeError, TypeError):
            continue
        records[f"{path.parent.name}/{path.name}"] = data
    return records


def record_name(seed: int, role: str) -> str:
    return f"seed_{seed}/{role}.json"


def pack_records(run_dir: str | Path) -> Path:
    """Write every record of a run folder (as `run_records` finds them, unchanged) into its archive, atomically; the
    per-seed files stay (git-ignored) for a rerun to resume from."""
    run_dir = Path(run_dir)
    return write_json(run_dir / RECORDS_ARCHIVE, dict(sorted(_stored_records(run_dir).items())))


def write_json(path: str | Path, data: dict) -> Path:
    """Write atomically (a killed run never leaves a half-written record that a rerun would trust); xz-compressed
    when the name ends in `.xz` (what the repository keeps of records with per-item values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=_json_default) + "\n"
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        tmp.write(lzma.compress(text.encode(), preset=9) if path.suffix == ".xz" else text.encode())
    os.replace(tmp.name, path)
    return path


def read_json(path: str | Path):
    """What `write_json` wrote (decompressed when the name ends in `.xz`)."""
    path = Path(path)
    if path.suffix == ".xz":
        with lzma.open(path, "rt") as handle:
            return json.load(handle)
    return json.loads(path.read_text())


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value)}")
