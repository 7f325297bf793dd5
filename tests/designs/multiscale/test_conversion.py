"""Conversion of the real all-MiniLM-L6-v2: multi-scale layers alone (exact), and the three-design composition
(exact with the residual position table, fitted with the pure position MLP: fit and change in outputs reported)."""

import json

import pytest
import torch
import transformers
from transformers import AutoModel

import hf_archs
from tests.conformance.generation import assert_cached_generation_matches_recompute
from tests.conftest import quiet


@pytest.mark.parametrize("placement", ["layers", "after_encoder"])
def test_minilm_multiscale_is_exact(minilm_dir, tmp_path, placement):
    settings = {"multiscale_placement": placement}
    report = quiet(
        hf_archs.convert, "multiscale", str(minilm_dir), tmp_path / "ms", design_settings=settings, progress=False
    )
    assert report.identity and max(report.max_abs_diff.values()) <= 1e-5, report.max_abs_diff
    assert report.sentence_embedding_max_abs_diff is None or report.sentence_embedding_max_abs_diff <= 1e-5
    model = AutoModel.from_pretrained(tmp_path / "ms")
    assert model.config.multiscale_placement == placement
    branches = [len(layer.multiscale.branches) if hasattr(layer, "multiscale") else 0 for layer in model.encoder.layer]
    if placement == "layers":
        assert branches == [3] * 6  # 64, 128, 256 beside the stock 384
    else:
        assert branches == [0] * 5 + [4]  # 64, 128, 256 and a new 384 after the last layer
    assert any(name.endswith("branches.2.attention.self.query.weight") for name in report.new_parameters)


def test_minilm_composition_exact_and_fitted(minilm_dir, tmp_path):
    design = "semantic+continuous+multiscale"
    exact = quiet(hf_archs.convert, design, str(minilm_dir), tmp_path / "exact", progress=False)
    assert exact.identity and max(exact.max_abs_diff.values()) <= 1e-5, exact.max_abs_diff
    assert exact.sentence_embedding_max_abs_diff is None or exact.sentence_embedding_max_abs_diff <= 1e-5
    model = AutoModel.from_pretrained(tmp_path / "exact")
    assert type(model).__name__ == "SemanticContinuousMultiscaleBertModel"
    layer = model.encoder.layer[0]
    assert hasattr(layer.attention.self, "semantic_tau") and hasattr(layer, "multiscale")
    assert not any(hasattr(m, "semantic_tau") for m in layer.multiscale.modules())  # only the stock attention

    settings = {"continuous_residual_table": False}
    fitted = quiet(
        hf_archs.convert, design, str(minilm_dir), tmp_path / "mlp", design_settings=settings, progress=False
    )
    assert not fitted.identity and fitted.initialization["position_fit"] == exact.initialization["position_fit"]
    assert max(fitted.max_abs_diff.values()) > 1e-3  # the pure MLP changes the function; the size is reported
    stored = json.loads((tmp_path / "mlp" / "hf_archs_conversion.json").read_text())
    assert stored["max_abs_diff"] == fitted.max_abs_diff
    print("composition fitted:", fitted.max_abs_diff, fitted.sentence_embedding_max_abs_diff)
    with torch.no_grad():
        assert torch.isfinite(
            AutoModel.from_pretrained(tmp_path / "mlp")(input_ids=torch.tensor([[101, 2000, 102]]))[0]
        ).all()


@pytest.mark.slow
def test_real_gemma_converts_exactly_and_decodes_with_branch_caches(gemma3_dir, tmp_path):
    """The real google/gemma-3-270m (d = 640, 4 heads of 256, 1 KV head, sliding + full layers): branches of widths
    160 and 320 beside every layer; exact at the identity, and with the branches active cached greedy decoding gives
    the recomputed tokens and logits. Decoding runs in float64: in float32 even the stock model's cached and
    recomputed logits (size ~26) differ by about 4e-5, more than the contract's 1e-5."""
    report = quiet(hf_archs.convert, "multiscale", str(gemma3_dir), tmp_path / "identity", progress=False)
    assert report.model_type == "multiscale_gemma3_text" and report.identity
    assert max(report.max_abs_diff.values()) <= 1e-5, report.max_abs_diff
    settings = {"multiscale_branch_weight": 0.02}
    quiet(
        hf_archs.convert, "multiscale", str(gemma3_dir), tmp_path / "active", design_settings=settings, progress=False
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(gemma3_dir)
    inputs = tokenizer(["The capital of France is", "Water boils at"], return_tensors="pt", padding=True)
    kwargs = dict(max_new_tokens=6, do_sample=False, return_dict_in_generate=True, output_logits=True)

    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "active", dtype=torch.float64).eval()
    assert_cached_generation_matches_recompute(model, dict(inputs), kwargs)
