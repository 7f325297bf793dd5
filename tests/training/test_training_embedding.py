"""Pooling as declared by sentence-transformers folders, and the retrieval metric."""

import json

import pytest
import torch
from datasets import Dataset
from transformers import TrainingArguments

from hf_archs.training.embedding import ContrastiveTrainer, Pooling, evaluate_retrieval


def test_pooling_of_minilm_is_mean_and_normalize(minilm_path):
    assert Pooling.from_model_dir(minilm_path) == Pooling(mode="mean", normalize=True)


def test_pooling_defaults_to_mean_without_sentence_transformers_files(tmp_path):
    assert Pooling.from_model_dir(tmp_path) == Pooling(mode="mean", normalize=False)


_OLD_FLAGS = {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}


@pytest.mark.parametrize(
    "pooling_config, expected",
    [
        ({"word_embedding_dimension": 4, **_OLD_FLAGS}, "max"),  # written by sentence-transformers < 5
        ({"embedding_dimension": 4, "pooling_mode": "cls", "include_prompt": True}, "cls"),
        ({"word_embedding_dimension": 4, **_OLD_FLAGS, "pooling_mode_cls_token": True}, None),  # two modes
    ],
)
def test_pooling_reads_old_and_new_sentence_transformers_configs(tmp_path, pooling_config, expected):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    if expected is None:
        with pytest.raises(ValueError, match="pooling mode"):
            Pooling.from_model_dir(tmp_path)
    else:
        assert Pooling.from_model_dir(tmp_path) == Pooling(mode=expected, normalize=False)


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
    # Padded on the left, "cls" is the first real token, as sentence-transformers pools (it was the first padding).
    assert torch.equal(Pooling("cls")(hidden.flip(1), mask.flip(1)), torch.tensor([[3.0, 4.0]]))
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


def _hand_rolled_pooling(mode, normalize, hidden_states, attention_mask):
    """The pooling this module computed itself before it used sentence-transformers' modules."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    if mode == "cls":
        pooled = hidden_states[:, 0]
    elif mode == "mean":
        pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    else:
        pooled = hidden_states.masked_fill(mask == 0, torch.finfo(hidden_states.dtype).min).max(1).values
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


def _padded_batch(dtype, lengths=(9, 1, 4, 7, 2, 5), hidden=16, seed=0):
    torch.manual_seed(seed)
    lengths = torch.tensor(lengths)
    mask = (torch.arange(lengths.max()) < lengths[:, None]).long()  # padded on the right, as BERT tokenizers pad
    hidden_states = torch.randn(*mask.shape, hidden, dtype=dtype) * 3
    return hidden_states.masked_fill(mask[..., None] == 0, 100.0), mask  # padding far above every real state


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("mode", ["cls", "mean", "max"])
def test_pooling_equals_the_hand_rolled_formulas(mode, normalize):
    hidden_states, mask = _padded_batch(torch.float64)
    expected = _hand_rolled_pooling(mode, normalize, hidden_states, mask)
    torch.testing.assert_close(Pooling(mode, normalize)(hidden_states, mask), expected, rtol=0, atol=1e-13)
    # In float32, the precision training runs in, the numbers are the very same: stored results stay reproducible.
    hidden_states, mask = _padded_batch(torch.float32)
    assert torch.equal(
        Pooling(mode, normalize)(hidden_states, mask), _hand_rolled_pooling(mode, normalize, hidden_states, mask)
    )


class HiddenStatesModel(torch.nn.Module):
    """Returns its `input_ids` as the token states: the loss then sees chosen states."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask):
        return (input_ids,)


def _hand_rolled_loss(anchor, positive, temperature=0.05):
    """The symmetric InfoNCE this module computed itself before it used MultipleNegativesRankingLoss."""
    logits = anchor @ positive.T / temperature
    labels = torch.arange(logits.size(0))
    ce = torch.nn.functional.cross_entropy
    return (ce(logits, labels) + ce(logits.T, labels)) / 2


@pytest.mark.parametrize("mode", ["cls", "mean", "max"])
def test_contrastive_loss_equals_the_hand_rolled_symmetric_infonce(mode, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    trainer = ContrastiveTrainer(model=HiddenStatesModel(), args=args, pooling=Pooling(mode))
    anchor_states, anchor_mask = _padded_batch(torch.float64)
    positive_states, positive_mask = _padded_batch(torch.float64, lengths=(3, 6, 1, 2, 6, 4), seed=1)
    anchor_states.requires_grad_(True)

    loss = trainer.compute_loss(
        trainer.model,
        {
            "anchor": {"input_ids": anchor_states, "attention_mask": anchor_mask},
            "positive": {"input_ids": positive_states, "attention_mask": positive_mask},
        },
    )
    (grad,) = torch.autograd.grad(loss, anchor_states)
    embeddings = [
        torch.nn.functional.normalize(_hand_rolled_pooling(mode, False, states, mask), dim=-1)
        for states, mask in ((anchor_states, anchor_mask), (positive_states, positive_mask))
    ]
    expected = _hand_rolled_loss(*embeddings)
    (expected_grad,) = torch.autograd.grad(expected, anchor_states)
    assert 0.1 < expected.item() < 20  # neither near 0 nor one-hot softmaxes
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-14)
