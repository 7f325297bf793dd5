"""`hf-archs convert`: stock checkpoints in, verified design checkpoints out, nothing lost on failure."""

import json

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

from hf_archs import UnsupportedSourceError
from hf_archs.cli import main as cli
from hf_archs.conversion import IDENTITY_ATOL, ConversionError, convert
from hf_archs.registry import UnknownDesignError, zoo_model
from tests.conftest import quiet


TINY = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)


def _save(model, path):
    model.save_pretrained(path)
    return path


def test_minilm_converts_exactly_and_stays_a_sentence_transformer(minilm_dir, tmp_path):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    report = quiet(convert, "semantic", str(minilm_dir), tmp_path / "minilm-semantic", progress=False)
    assert report.model_type == "semantic_bert" and report.identity
    assert set(report.max_abs_diff) == {"right_padding", "left_padding"}
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL
    assert report.sentence_embedding_max_abs_diff <= IDENTITY_ATOL
    assert len(report.new_parameters) == 6  # one tau vector per layer

    out = tmp_path / "minilm-semantic"
    texts = ["A dog chases the ball across the yard.", "Photosynthesis turns light into chemical energy."]
    stock = sentence_transformers.SentenceTransformer(str(minilm_dir), device="cpu").encode(
        texts, convert_to_tensor=True
    )
    converted_model = sentence_transformers.SentenceTransformer(str(out), device="cpu", trust_remote_code=True)
    assert type(converted_model[0].auto_model).__name__ == "SemanticBertModel"
    converted = converted_model.encode(texts, convert_to_tensor=True)
    assert (stock - converted).abs().max() <= IDENTITY_ATOL

    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n") and f"base_model: {minilm_dir}" in card
    assert f"\n## Math\n\n{zoo_model('semantic', 'bert').math}\n\n## Conversion\n" in card  # the design's math
    assert json.loads((out / "config.json").read_text())["model_type"] == "semantic_bert"
    assert (out / "modules.json").exists() and (out / "tokenizer.json").exists()


@pytest.mark.parametrize(
    "name,build",
    [
        ("mistral", lambda: MistralForCausalLM(MistralConfig(**TINY, sliding_window=None))),
        ("qwen2", lambda: Qwen2ForCausalLM(Qwen2Config(**TINY, use_sliding_window=False))),
    ],
)
def test_llama_family_variants_convert_exactly(name, build, tmp_path):
    torch.manual_seed(0)
    source = _save(build(), tmp_path / name)
    report = quiet(convert, "semantic", str(source), tmp_path / "out", progress=False)
    assert report.design_class == "SemanticLlamaForCausalLM"
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL


def test_mistral_with_a_sliding_window_is_refused(tmp_path):
    source = _save(MistralForCausalLM(MistralConfig(**TINY, sliding_window=16)), tmp_path / "mistral")
    with pytest.raises(UnsupportedSourceError, match="sliding window"):
        convert("semantic", str(source), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_unsupported_source_family_fails_cleanly(tmp_path, capsys):
    source = _save(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64)), tmp_path / "gpt2")
    with pytest.raises(UnsupportedSourceError, match="gpt2"):
        convert("semantic", str(source), tmp_path / "out", progress=False)
    assert cli(["convert", "--design", "semantic", "--from", str(source), "--out", str(tmp_path / "out")]) != 0
    assert "gpt2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unknown_design_is_refused(stock_dirs, tmp_path, capsys):
    with pytest.raises(UnknownDesignError, match="known designs"):
        convert("no_such_design", str(stock_dirs["base"]), tmp_path / "out", progress=False)
    assert cli(["convert", "--design", "nope", "--from", str(stock_dirs["base"]), "--out", str(tmp_path / "o")]) == 2
    assert "Unknown design" in capsys.readouterr().err


def test_converting_onto_the_source_is_refused(stock_dirs):
    with pytest.raises(ValueError, match="must lie outside the source"):
        convert("semantic", str(stock_dirs["base"]), stock_dirs["base"], force=True, progress=False)
    assert (stock_dirs["base"] / "model.safetensors").exists()


def test_non_identity_setting_is_reported_not_refused(stock_dirs, tmp_path):
    report = quiet(
        convert,
        "semantic",
        str(stock_dirs["gqa_untied"]),
        tmp_path / "out",
        design_settings={"semantic_tau_init": 0.5},
        progress=False,
    )
    assert not report.identity and max(report.max_abs_diff.values()) > 1e-3


def test_failed_verification_leaves_nothing_behind(stock_dirs, tmp_path, monkeypatch):
    import hf_archs.conversion.converter as conversion

    existing = tmp_path / "existing"
    quiet(conversion.convert, "semantic", str(stock_dirs["base"]), existing, progress=False)
    before = {p.name: p.read_bytes() for p in existing.iterdir() if p.is_file()}
    monkeypatch.setattr(conversion, "compare_models", lambda *args: {"right_padding": 1.0})
    with pytest.raises(ConversionError, match="identity"):
        conversion.convert("semantic", str(stock_dirs["base"]), existing, force=True, progress=False)
    assert {p.name: p.read_bytes() for p in existing.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_check_reports_non_finite_weights(stock_dirs, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    assert cli(["check", str(stock_dirs["base"])]) == 0
    weights = load_file(stock_dirs["base"] / "model.safetensors")
    name = sorted(weights)[0]
    weights[name][0] = float("nan")
    save_file(weights, tmp_path / "model.safetensors")
    assert cli(["check", str(tmp_path)]) == 1
    assert name in capsys.readouterr().out


def test_list_names_every_zoo_model(capsys):
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "semantic_llama" in out and "semantic_bert" in out


def test_conversion_keeps_the_source_dtype(tmp_path):
    from safetensors import safe_open
    from transformers import LlamaForCausalLM

    from hf_archs.testing import tiny_llama_config

    torch.manual_seed(0)
    source = _save(LlamaForCausalLM(tiny_llama_config()).to(torch.bfloat16), tmp_path / "bf16")
    report = quiet(convert, "semantic", str(source), tmp_path / "out", progress=False)
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL  # compared in float32: same bf16 weights upcast
    with safe_open(tmp_path / "out" / "model.safetensors", framework="pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()} == {torch.bfloat16}


def test_unknown_design_settings_are_refused(stock_dirs, tmp_path, capsys):
    """Bug: `--set semantic_tau=0.5` (a typo of semantic_tau_init) converted silently with a field that did nothing."""
    from hf_archs.core.design import UnknownDesignKeyError

    with pytest.raises(UnknownDesignKeyError, match="semantic_tau_init"):
        convert("semantic", str(stock_dirs["base"]), tmp_path / "out", design_settings={"semantic_tau": 0.5})
    argv = ["convert", "--design", "semantic", "--from", str(stock_dirs["base"]), "--out", str(tmp_path / "o")]
    assert cli(argv + ["--set", "semantic_tau=0.5"]) == 2
    assert "semantic_tau_init" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_cli_has_no_design_specific_flags():
    """Bug: `--tau` was offered for every design and injected a semantic field into any of them."""
    from hf_archs.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["convert", "--design", "semantic", "--from", "a", "--out", "b", "--tau", "0.1"])


def test_a_source_missing_a_weight_is_refused(tmp_path):
    """Bug: any missing `*.bias` was zeroed (meant for Qwen2's absent o_proj bias): a broken checkpoint converted."""
    from safetensors.torch import load_file, save_file
    from transformers import LlamaForCausalLM

    from hf_archs.testing import tiny_llama_config

    source = _save(LlamaForCausalLM(tiny_llama_config(attention_bias=True)), tmp_path / "llama")
    weights = load_file(source / "model.safetensors")
    del weights["model.layers.0.self_attn.q_proj.bias"]
    save_file(weights, source / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConversionError, match="q_proj.bias"):
        quiet(convert, "semantic", str(source), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _initialize_tau(model, source_dir, report):
    """A conversion-plan step for the test below: sets every design parameter, as a fit or a training would."""
    from hf_archs.core.model import design_parameter_names

    names = design_parameter_names(model)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in names:
                parameter.fill_(0.7)
    report.design_settings["initialized_by"] = "test plan"


def test_a_conversion_plan_step_runs_and_is_verified(stock_dirs, tmp_path, monkeypatch):
    """The plan's initializer runs after the weights are copied, and its result is verified against the source."""
    import dataclasses

    from hf_archs.core.design import ConversionPlan
    from hf_archs.designs.semantic import design as semantic_design
    from hf_archs.registry import zoo_model

    entry = zoo_model("semantic", "bert")
    plan = ConversionPlan(initialize="tests.conversion.test_convert:_initialize_tau", atol=1e-5)
    designs = tuple(dataclasses.replace(design, conversion=plan) for design in entry.designs)
    monkeypatch.setattr(entry.config_class, "designs", designs)
    # Saved remote code imports the design from where it is declared: declare the changed one there.
    monkeypatch.setattr(semantic_design, "SEMANTIC", designs[0])
    # At the identity setting the changed parameters break the declared fidelity: the conversion must fail.
    with pytest.raises(ConversionError, match="identity"):
        quiet(convert, "semantic", str(stock_dirs["base"]), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    # With a declared looser fidelity the same plan passes, and the report says what the plan did.
    loose = tuple(
        dataclasses.replace(d, conversion=ConversionPlan(initialize=plan.initialize, atol=1.0)) for d in designs
    )
    monkeypatch.setattr(entry.config_class, "designs", loose)
    monkeypatch.setattr(semantic_design, "SEMANTIC", loose[0])
    report = quiet(convert, "semantic", str(stock_dirs["base"]), tmp_path / "out", progress=False)
    assert report.design_settings["initialized_by"] == "test plan" and report.fidelity_atol == 1.0
    assert 1e-5 < max(report.max_abs_diff.values()) <= 1.0


@pytest.mark.slow
def test_conversion_is_reproducible_and_leaves_the_callers_random_state(stock_dirs, tmp_path):
    """Bug: new parameters left random by the identity setting (e.g. resonant attention's projections) were drawn
    from the caller's random state, so two conversions of one checkpoint differed (and so did the tests using them)."""
    from safetensors.torch import load_file

    from hf_archs.testing import CASES

    for case in {case.entry.design_name: case for case in CASES}.values():  # one model type per design
        folders = []
        for attempt in range(2):
            torch.manual_seed(attempt)  # a different caller state each time
            before = torch.random.get_rng_state()
            out = tmp_path / f"{case.id}_{attempt}"
            quiet(
                convert, case.entry.design_name, str(stock_dirs[case.variant.name]), out, progress=False, verify=False
            )
            assert torch.equal(torch.random.get_rng_state(), before)
            folders.append(load_file(out / "model.safetensors"))
        assert folders[0].keys() == folders[1].keys()
        for name, tensor in folders[0].items():
            assert torch.equal(tensor, folders[1][name]), f"{case.id}: {name} differs between two conversions"
