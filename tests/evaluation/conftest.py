"""Tiny random stock checkpoints (Llama decoder, BERT encoder) with MiniLM's tokenizer, and their semantic
conversions with the design term active (tau = 0.5): built locally, nothing downloaded."""

import contextlib
import io
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertModel, LlamaForCausalLM

from hf_archs.conversion import convert
from hf_archs.testing import tiny_bert_config, tiny_llama_config


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _convert(source: Path, out: Path) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):
        convert("semantic", str(source), out, design_settings={"semantic_tau_init": 0.5}, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, minilm_dir) -> dict[str, Path]:
    """{"llama", "llama_semantic", "bert", "bert_semantic"} -> model folder."""
    root = tmp_path_factory.mktemp("tiny_models")
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    llama_config = tiny_llama_config(
        vocab_size=len(tokenizer),
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config).save_pretrained(root / "llama")
    tokenizer.save_pretrained(root / "llama")
    torch.manual_seed(0)
    BertModel(tiny_bert_config(vocab_size=len(tokenizer))).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    return {
        "llama": root / "llama",
        "llama_semantic": _convert(root / "llama", root / "llama_semantic"),
        "bert": root / "bert",
        "bert_semantic": _convert(root / "bert", root / "bert_semantic"),
    }
