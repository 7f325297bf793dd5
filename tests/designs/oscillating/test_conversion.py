"""Conversion onto the oscillating design through the `hf-archs convert` pipeline: exact at each backbone's identity
setting (every layer forward on decoders, bidirectional on BERT), reported (not refused) elsewhere."""

import json

import pytest
import torch
import transformers

from hf_archs import cli
from hf_archs.conversion import IDENTITY_ATOL, convert
from hf_archs.designs.oscillating.design import layer_patterns
from tests.conftest import quiet


CYCLE = ["bidirectional", "forward", "backward"]


@pytest.mark.parametrize(
    "variant, patterns", [("gqa_untied", ["forward"]), ("sliding", ["forward"]), ("base", ["bidirectional"])]
)
def test_cli_converts_exactly_at_the_identity_and_reports_the_cycle(variant, patterns, stock_dirs, tmp_path, capsys):
    source = str(stock_dirs[variant])
    setting = f"oscillating_layer_attention_patterns={json.dumps(patterns)}"
    assert cli.main(["convert", "--design", "oscillating", "--from", source, "--out", str(tmp_path / "id")]) == 0
    assert (
        cli.main(
            ["convert", "--design", "oscillating", "--from", source, "--out", str(tmp_path / "set")]
            + ["--set", setting]
        )
        == 0
    )
    capsys.readouterr()
    for name in ("id", "set"):
        report = json.loads((tmp_path / name / "hf_archs_conversion.json").read_text())
        assert report["identity"] and max(report["max_abs_diff"].values()) <= IDENTITY_ATOL, report
        config = transformers.AutoConfig.from_pretrained(tmp_path / name)
        assert layer_patterns(config) == patterns * config.num_hidden_layers

    report = quiet(
        convert,
        "oscillating",
        source,
        tmp_path / "cycle",
        design_settings={"oscillating_layer_attention_patterns": CYCLE},
        progress=False,
    )
    assert not report.identity and max(report.max_abs_diff.values()) > 1e-3


def test_minilm_converts_exactly_and_stays_a_sentence_transformer(minilm_dir, tmp_path):
    """The real all-MiniLM-L6-v2: every layer bidirectional is the stock encoder; the default cycle is not."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    report = quiet(convert, "oscillating", str(minilm_dir), tmp_path / "identity", progress=False)
    assert report.model_type == "oscillating_bert" and report.identity
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL, report.max_abs_diff
    assert report.new_parameters == []

    sentences = ["A cat sat on the mat.", "Attention is a weighted average of values, with weights from similarity."]
    stock = sentence_transformers.SentenceTransformer(str(minilm_dir), device="cpu").encode(sentences)
    converted = sentence_transformers.SentenceTransformer(str(tmp_path / "identity"), device="cpu").encode(sentences)
    assert abs(stock - converted).max() <= IDENTITY_ATOL

    cycle = quiet(
        convert,
        "oscillating",
        str(minilm_dir),
        tmp_path / "cycle",
        design_settings={"oscillating_layer_attention_patterns": CYCLE},
        progress=False,
    )
    assert not cycle.identity and max(cycle.max_abs_diff.values()) > 1e-3


@pytest.mark.slow
def test_real_gemma_converts_exactly_and_into_encoders(gemma3_dir, tmp_path):
    """google/gemma-3-270m: every layer forward is the stock decoder within 1e-5 (real text, both paddings); the
    all-bidirectional and oscillating encoders convert and refuse cached generation, naming their layers."""
    identity = quiet(convert, "oscillating", str(gemma3_dir), tmp_path / "identity", progress=False)
    assert identity.model_type == "oscillating_gemma3_text" and identity.identity
    assert set(identity.max_abs_diff) == {"right_padding", "left_padding"}
    assert max(identity.max_abs_diff.values()) <= IDENTITY_ATOL, identity.max_abs_diff

    tokenizer = transformers.AutoTokenizer.from_pretrained(gemma3_dir)
    encoded = tokenizer(["The capital of France is", "A dictionary defines words."], return_tensors="pt", padding=True)
    for name, patterns in (("bidirectional", ["bidirectional"]), ("oscillating", CYCLE)):
        settings = {"oscillating_layer_attention_patterns": patterns}
        report = quiet(
            convert, "oscillating", str(gemma3_dir), tmp_path / name, design_settings=settings, progress=False
        )
        assert not report.identity
        model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / name, dtype=torch.float32).eval()
        with torch.no_grad():
            hidden = model.model(**encoded).last_hidden_state
        assert torch.isfinite(hidden).all()
        with pytest.raises(
            ValueError, match=r"cannot decode left to right with a KV cache: layers 0 \(bidirectional\)"
        ):
            model.generate(**encoded, max_new_tokens=2)


def test_list_shows_the_identity_setting_of_each_backbone(capsys):
    assert cli.main(["list", "--fields"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("oscillating:"))
    assert "on llama: oscillating_layer_attention_patterns=['forward']" in line
    assert "on bert: oscillating_layer_attention_patterns=['bidirectional']" in line
