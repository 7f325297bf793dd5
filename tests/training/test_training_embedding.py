"""Pooling as declared by sentence-transformers folders, and the retrieval metric."""

import json

import pytest
import torch
from datasets import Dataset

from hf_archs.training.embedding import Pooling, evaluate_retrieval


def test_pooling_of_minilm_is_mean_and_normalize(minilm_path):
    assert Pooling.from_model_dir(minilm_path) == Pooling(mode="mean", normalize=True)


def test_pooling_defaults_to_mean_without_sentence_transformers_files(tmp_path):
    assert Pooling.from_model_dir(tmp_path) == Pooling(mode="mean", normalize=False)


def test_unsupported_sentence_transformers_modules_raise(tmp_path):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match="Dense"):
        Pooling.from_model_dir(tmp_path)


def test_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(Pooling("mean")(hidden, mask), torch.tensor([[2.0, 3.0]]))
    assert torch.allclose(Pooling("max")(hidden, mask), torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(Pooling("cls")(hidden, mask), torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="pooling mode"):
        Pooling("weightedmean")


class OneHotEncoder(torch.nn.Module):
    """Embeds a text as the one-hot vector of its first letter: definitions retrieve words sharing it."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask, **kwargs):
        return (torch.nn.functional.one_hot(input_ids, 128).float(),)


class CharTokenizer:
    def __call__(self, texts, **kwargs):
        ids = torch.tensor([[ord(text[0])] for text in texts])
        return _Batch(input_ids=ids, attention_mask=torch.ones_like(ids))


class _Batch(dict):
    def to(self, device):
        return self


def test_retrieval_metrics_rank_by_cosine():
    # Definitions retrieve the words sharing their first letter. Ties count against the right word (a collapsed model
    # must not rank every target first): "apple" and "avocado" tie for "a ..." definitions (rank 2 each); "b red"
    # (cherry) scores 0 like apple and avocado, below banana: rank 4.
    entries = Dataset.from_dict(
        {"word": ["apple", "banana", "avocado", "cherry"], "definition": ["a fruit", "b fruit", "a green", "b red"]}
    )
    metrics = evaluate_retrieval(OneHotEncoder(), CharTokenizer(), entries, Pooling("cls"))
    assert metrics == pytest.approx({"mrr": (1 / 2 + 1 + 1 / 2 + 1 / 4) / 4, "recall@1": 0.25, "recall@10": 1.0})


def test_collapsed_embeddings_rank_every_target_last():
    """Bug: ties counted in the right word's favour, so a model whose embeddings collapsed to one vector scored
    recall@1 = 1 (found when a multi-scale run collapsed and beat stock MiniLM on one seed)."""

    class Collapsed(OneHotEncoder):
        def forward(self, input_ids, attention_mask, **kwargs):
            return (torch.ones(*input_ids.shape, 128),)

    entries = Dataset.from_dict({"word": ["apple", "banana", "cherry"], "definition": ["a", "b", "c"]})
    metrics = evaluate_retrieval(Collapsed(), CharTokenizer(), entries, Pooling("cls"))
    assert metrics == pytest.approx({"mrr": 1 / 3, "recall@1": 0.0, "recall@10": 1.0})
