"""The real google/gemma-3-270m (from its PyPI GGUF package): GGUF sources, exact conversion, cached generation."""

import pytest
import torch
import transformers

from hf_archs.conversion import IDENTITY_ATOL, convert
from hf_archs.conversion.gguf import dequantize_gguf, gemma3_270m_gguf, is_gguf_file
from tests.conftest import quiet


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def semantic_gemma(gemma3_dir, tmp_path_factory):
    """The real Gemma converted at the identity setting, and with tau active."""
    out = tmp_path_factory.mktemp("gemma_semantic")
    identity = quiet(convert, "semantic", str(gemma3_dir), out / "identity", progress=False)
    quiet(
        convert,
        "semantic",
        str(gemma3_dir),
        out / "active",
        design_settings={"semantic_tau_init": 0.5},
        progress=False,
    )
    return identity, out / "identity", out / "active"


def test_real_gemma_converts_exactly(semantic_gemma):
    report, path, _ = semantic_gemma
    assert report.model_type == "semantic_gemma3_text" and report.design_class == "SemanticGemma3ForCausalLM"
    assert set(report.max_abs_diff) == {"right_padding", "left_padding"}  # real text through its tokenizer
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL, report.max_abs_diff
    assert len(report.new_parameters) == 18  # one tau vector per layer


def test_real_gemma_generates_the_same_with_and_without_cache(semantic_gemma):
    """Tau active; one prompt longer than the 512-token sliding window, so the sliding layers' cache is exercised."""
    _, _, active = semantic_gemma
    tokenizer = transformers.AutoTokenizer.from_pretrained(active)
    model = transformers.AutoModelForCausalLM.from_pretrained(active, dtype=torch.float32).eval()
    long_prompt = " ".join(["The river flows past the old mill and the quiet town."] * 45)
    encoded = tokenizer([long_prompt, "The capital of France is"], return_tensors="pt", padding=True)
    assert encoded["input_ids"].shape[1] > model.config.sliding_window
    kwargs = dict(max_new_tokens=4, do_sample=False)
    cached = model.generate(**encoded, use_cache=True, **kwargs)
    recomputed = model.generate(**encoded, use_cache=False, **kwargs)
    assert torch.equal(cached, recomputed)


def test_a_gguf_file_converts_directly(semantic_gemma, tmp_path):
    """`hf-archs convert --from model.gguf`: dequantized on the fly, same checkpoint as from the dequantized folder."""
    gguf_file = gemma3_270m_gguf()
    assert is_gguf_file(gguf_file)
    report = quiet(convert, "semantic", str(gguf_file), tmp_path / "from_gguf", progress=False)
    assert max(report.max_abs_diff.values()) <= IDENTITY_ATOL
    _, folder_conversion, _ = semantic_gemma
    ids = torch.tensor([[2, 818, 5279, 529, 7001, 563]])
    with torch.no_grad():
        from_gguf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "from_gguf")(input_ids=ids).logits
        from_folder = transformers.AutoModelForCausalLM.from_pretrained(folder_conversion)(input_ids=ids).logits
    assert torch.equal(from_gguf, from_folder)


def test_gguf_refusals(tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a gguf file")
    with pytest.raises(ValueError, match="not a GGUF file"):
        dequantize_gguf(not_gguf, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        dequantize_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        dequantize_gguf(gemma3_270m_gguf(), occupied)
    assert (occupied / "keep.txt").exists()
