"""A LoRA-merged zoo encoder saved as a sentence-transformers folder: `SentenceTransformer(folder)` loads it through
trust_remote_code in a process where hf_archs cannot be imported, and embeds as the harness does."""

import contextlib
import io
import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, Gemma3ForCausalLM

from benchmarks.oscillating.encoders import decoder_to_encoders
from hf_archs.data import load_wordnet
from hf_archs.testing import tiny_gemma3_config
from hf_archs.training import finetune_lora
from hf_archs.training.embedding import Pooling, encode, save_sentence_transformer


_OUTSIDE = """
import json, sys
sys.modules["hf_archs"] = None  # any import of hf_archs fails: the folder's own code must do
from sentence_transformers import SentenceTransformer
folder, texts, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
model = SentenceTransformer(folder, trust_remote_code=True, device="cpu")
embeddings = model.encode(texts, batch_size=4, convert_to_tensor=True)
json.dump({"embeddings": embeddings.tolist(), "class": type(model[0].auto_model).__name__}, open(out, "w"))
"""


@pytest.mark.slow
def test_sentence_transformers_folder_embeds_as_the_harness(minilm_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    Gemma3ForCausalLM(tiny_gemma3_config(vocab_size=len(tokenizer))).save_pretrained(tmp_path / "gemma3")
    tokenizer.save_pretrained(tmp_path / "gemma3")
    with contextlib.redirect_stdout(io.StringIO()):
        (encoder,) = decoder_to_encoders(
            str(tmp_path / "gemma3"), tmp_path / "enc", {"osc": ["bidirectional", "backward"]}
        ).values()
    report = finetune_lora(
        str(encoder), "embedding", str(tmp_path / "run"), max_steps=2, batch_size=4, train_size=16, eval_size=8
    )
    folder = save_sentence_transformer(report.merged_dir, tmp_path / "st", max_seq_length=64)
    assert Pooling.from_model_dir(folder) == Pooling(mode="mean", normalize=True)

    texts = list(load_wordnet("test", limit=6)["definition"]) + ["a", "word"]
    model = AutoModel.from_pretrained(report.merged_dir).eval()
    expected = encode(model, tokenizer, texts, Pooling(), batch_size=8)  # the harness's pooled, unit-norm embeddings
    out = tmp_path / "embeddings.json"
    subprocess.run(
        [sys.executable, "-c", _OUTSIDE, str(folder), json.dumps(texts), str(out)], check=True, cwd=tmp_path
    )
    loaded = json.loads(out.read_text())
    assert loaded["class"] == "OscillatingGemma3TextModel"
    torch.testing.assert_close(torch.tensor(loaded["embeddings"]), expected, rtol=1e-5, atol=1e-5)
