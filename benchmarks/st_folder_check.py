"""A sentence-transformers folder of a LoRA-merged encoder, checked against the harness's embeddings.

    python benchmarks/st_folder_check.py <merged model folder> <output folder>

Writes the folder (`save_sentence_transformer`), embeds the 96 held-out retrieval definitions and their words with
`SentenceTransformer(folder, trust_remote_code=True)` in a process where hf_archs cannot be imported, and prints the
largest difference from the harness's pooled embeddings (`training.embedding.encode`).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

import hf_archs  # noqa: F401
from hf_archs.data import load_wordnet
from hf_archs.training.embedding import Pooling, encode, save_sentence_transformer


merged, out = Path(sys.argv[1]), Path(sys.argv[2])
work = Path(tempfile.mkdtemp())
folder = save_sentence_transformer(merged, out, max_seq_length=64)
entries = load_wordnet("test", limit=96)
texts = list(entries["definition"]) + sorted(set(entries["word"]))
model = AutoModel.from_pretrained(merged, dtype=torch.float32).eval()
expected = encode(model, AutoTokenizer.from_pretrained(merged), texts, Pooling(), 128)
del model
code = """
import json, sys
sys.modules["hf_archs"] = None
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], trust_remote_code=True, device="cpu")
e = m.encode(json.loads(open(sys.argv[2]).read()), batch_size=32, convert_to_tensor=True)
json.dump(e.tolist(), open(sys.argv[3], "w"))
"""
(work / "texts.json").write_text(json.dumps(texts))
subprocess.run(
    [sys.executable, "-c", code, str(folder), str(work / "texts.json"), str(work / "embeddings.json")], check=True
)
got = torch.tensor(json.loads((work / "embeddings.json").read_text()))
print(
    "texts",
    len(texts),
    "max |diff|",
    (got - expected).abs().max().item(),
    "min cos",
    (got * expected).sum(-1).min().item(),
)
