"""`hf-archs convert` on the inputs a new user gets wrong: a clear one-line error, and nothing lost."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_archs.cli import main as cli
from hf_archs.errors import UserError
from tests.conftest import quiet


def _copy(source, target):
    shutil.copytree(source, target)
    return target


def _convert(source, out, *extra) -> list[str]:
    return ["convert", "--design", "semantic", "--from", str(source), "--out", str(out), *extra]


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_force_never_replaces_a_folder_that_holds_the_source(stock_dirs, tmp_path, capsys):
    models = tmp_path / "proj" / "models"
    source = _copy(stock_dirs["base"], models / "tiny-bert")
    (models / "notes.txt").write_text("a sibling of the source")
    before = _files(models)
    assert cli(_convert(source, models, "--force")) == 2
    assert "must lie outside the source" in capsys.readouterr().err
    assert _files(models) == before


def test_output_inside_the_source_is_refused(stock_dirs, tmp_path, capsys):
    source = _copy(stock_dirs["base"], tmp_path / "tiny-bert")
    before = _files(source)
    assert cli(_convert(source, source / "semantic")) == 2
    assert "must lie outside the source" in capsys.readouterr().err
    assert _files(source) == before


def test_force_replaces_only_an_unchanged_conversion(stock_dirs, tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    assert cli(_convert(stock_dirs["base"], target, "--force")) == 2
    assert "not a folder written by `hf-archs convert`" in capsys.readouterr().err
    assert (target / "precious.txt").read_text() == "keep me"

    (target / "precious.txt").unlink()
    assert quiet(cli, _convert(stock_dirs["base"], target)) == 0
    assert quiet(cli, _convert(stock_dirs["base"], target, "--force", "--set", "semantic_tau_init=0.25")) == 0
    assert json.loads((target / "config.json").read_text())["semantic_tau_init"] == 0.25

    (target / "my_notes.md").write_text("added after the conversion")
    assert cli(_convert(stock_dirs["base"], target, "--force")) == 2
    assert "my_notes.md" in capsys.readouterr().err and (target / "my_notes.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]  # no staging or backup folders left


def test_a_nan_weight_in_the_source_is_refused(stock_dirs, tmp_path, capsys):
    source = _copy(stock_dirs["base"], tmp_path / "nan")
    weights = load_file(source / "model.safetensors")
    name = next(n for n, t in weights.items() if t.is_floating_point() and t.dim() == 2)
    weights[name][0, 0] = float("nan")
    save_file(weights, source / "model.safetensors", metadata={"format": "pt"})
    assert cli(_convert(source, tmp_path / "out")) == 2
    assert "non-finite weights" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_nan_outputs_fail_verification(stock_dirs, tmp_path, monkeypatch):
    import hf_archs.conversion.converter as conversion

    monkeypatch.setattr(conversion, "compare_models", lambda *a: {"right_padding": float("nan")})
    with pytest.raises(conversion.ConversionError, match="not finite"):
        quiet(conversion.convert, "semantic", str(stock_dirs["base"]), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_unreadable_safetensors_are_named(stock_dirs, tmp_path, capsys, damage):
    source = _copy(stock_dirs["base"], tmp_path / damage)
    weights = source / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        data[: len(data) // 2] if damage == "truncated" else torch.randint(0, 256, (4096,)).byte().numpy().tobytes()
    )
    assert cli(_convert(source, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "model.safetensors is not a readable safetensors file" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert cli(["check", str(source)]) == 2
    assert "model.safetensors is not a readable safetensors file" in capsys.readouterr().err


def test_a_truncated_gguf_is_named(tmp_path, capsys):
    pytest.importorskip("gguf")
    gguf_file = tmp_path / "model.gguf"
    gguf_file.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\x05\x00")  # the header stops mid-field
    assert cli(_convert(gguf_file, tmp_path / "out")) == 2
    assert "not a readable GGUF file" in capsys.readouterr().err


def test_a_missing_local_path_is_not_called_a_hub_id(tmp_path, capsys):
    assert cli(_convert(tmp_path / "no" / "such" / "model", tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "No checkpoint folder or file at" in err and "repo" not in err.lower()


def test_a_folder_without_a_config_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli(_convert(tmp_path / "empty", tmp_path / "out")) == 2
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setting,message",
    [
        ("semantic_layers=[]", "semantic_layers"),
        ("semantic_layers=[-1]", "semantic_layers"),
        ("semantic_tau_init=abc", "semantic_tau_init"),
    ],
)
def test_bad_settings_are_named(stock_dirs, tmp_path, capsys, setting, message):
    assert cli(_convert(stock_dirs["base"], tmp_path / "out", "--set", setting)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_user_errors_are_value_errors():
    assert issubclass(UserError, ValueError)  # library callers that catch ValueError keep working


NEGATIVE_SIZES = [
    ("resonant_llama", "resonant_num_slots"),
    ("resonant_llama", "resonant_top_k"),
    ("synthesizer_llama", "synthesizer_max_positions"),
    ("synthesizer_llama", "synthesizer_hidden_size"),
    ("monitor_llama", "monitor_window"),
    ("monitor_llama", "monitor_dim"),
    ("dictionary_llama", "dictionary_size"),
    ("positional_llama", "positional_max_distance"),
    ("positional_bert", "positional_num_buckets"),
    ("positional_bert", "positional_relative_dim"),
    ("positional_bert", "positional_continuous_dim"),
    ("continuous_bert", "continuous_encoding_dim"),
]


@pytest.mark.parametrize("model_type,field", NEGATIVE_SIZES)
def test_negative_sizes_are_refused_by_the_config(model_type, field):
    """Bug: monitor_dim=-8 passed the config and failed in torch ("negative dimension"); every size is checked."""
    from hf_archs.registry import ZOO

    entry = next(entry for entry in ZOO if entry.model_type == model_type)
    with pytest.raises(Exception, match=field):
        entry.config_class(num_hidden_layers=2, **{field: -8})
