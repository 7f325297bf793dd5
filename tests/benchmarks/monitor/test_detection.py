"""Chains with injected errors (labels aligned with the injected step), the split (held-out error types and
positions), AUROC against hand values, and training of the monitor and the probe on a tiny model."""

import string

import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from benchmarks.monitor.data import IGNORE, make_chain, split_chains, step_labels, token_labels
from benchmarks.monitor.detection import (
    LinearProbe,
    auroc,
    choose_threshold,
    collect_states,
    detection_report,
    monitor_scorer,
    precision_recall,
    train_scorer,
)
from hf_archs.evaluation.arithmetic import Problem
from tests.designs.monitor.test_monitor import stock_and_monitor


PROBLEM = Problem(17, (("+", 5), ("*", 3), ("-", 9)))


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per printable character (ids 3..), offsets included; fits the tiny models' 128-token vocabulary."""
    vocab = {ch: i + 3 for i, ch in enumerate(string.printable)}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[])))


def characters(chain, labels):
    return "".join(chain.text[i] for i, label in enumerate(labels) if label == 1)


def test_labels_align_with_the_injected_step():
    clean = make_chain(PROBLEM)
    assert clean.text == PROBLEM.text()  # a clean chain is the harness's own worked example
    offsets = [(i, i + 1) for i in range(len(clean.text))]
    labels, steps = token_labels(clean, offsets)
    assert set(labels[: clean.solution_start]) == {IGNORE} and set(labels[clean.solution_start :]) == {0}
    assert step_labels(clean) == [0, 0, 0]

    wrong = make_chain(PROBLEM, 1, "off_by_one")  # 22 * 3 = 66 written as 65 or 67
    labels, steps = token_labels(wrong, offsets[: len(wrong.text)])
    assert characters(wrong, labels) in ("65; ", "67; ")
    assert wrong.written_answer != PROBLEM.answer and step_labels(wrong) == [0, 1, IGNORE]
    first = labels.index(1)
    assert steps[first] == 1 and set(labels[wrong.solution_start : first]) == {0}
    assert set(labels[wrong.error_span[1] :]) == {IGNORE}

    copy = make_chain(PROBLEM, 2, "copy")  # the last step starts from a value that is not 66
    assert characters(copy, token_labels(copy, offsets[: len(copy.text)])[0]).startswith(copy.text[copy.error_span[0]])
    assert not copy.text[copy.error_span[0] :].startswith("66 ")

    # A real tokenizer's offsets: labelled tokens cover the wrong number.
    tokenizer = char_tokenizer()
    encoded = tokenizer(wrong.text, return_offsets_mapping=True)
    labels, _ = token_labels(wrong, encoded["offset_mapping"])
    tokens = tokenizer.convert_ids_to_tokens([t for t, label in zip(encoded["input_ids"], labels) if label == 1])
    assert "".join(tokens) in ("65; ", "67; ")


def test_held_out_split_has_error_types_and_positions_never_trained_on():
    splits = split_chains(40, 20, seed=1)
    trained = {(c.error_type, c.error_step) for c in splits.train + splits.validation if not c.is_clean}
    held_out = {(c.error_type, c.error_step) for c in splits.test if not c.is_clean}
    assert trained <= {(t, p) for t in ("off_by_one", "wrong_operation") for p in (0, 1)}
    assert held_out and not held_out & trained
    assert {c.problem.question for c in splits.test}.isdisjoint(c.problem.question for c in splits.train)


def test_auroc_precision_recall_and_threshold_against_hand_values():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75  # 3 of the 4 positive-negative pairs ordered
    assert auroc([1, 2, 3], [0, 1, 1]) == 1.0 and auroc([3, 2, 1], [0, 1, 1]) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5  # ties count one half
    assert auroc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == 0.875
    assert auroc([1, 2], [1, 1]) != auroc([1, 2], [1, 1])  # NaN with one class
    pr = precision_recall([0.1, 0.6, 0.7, 0.9], [0, 1, 0, 1], 0.5)
    assert pr["precision"] == 2 / 3 and pr["recall"] == 1.0
    assert choose_threshold([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == pytest.approx(0.5)


def test_monitor_and_probe_train_on_a_tiny_model():
    torch.manual_seed(0)
    _, model = stock_and_monitor("llama")
    splits = split_chains(12, 6)
    tokenizer = char_tokenizer()
    layers = model.model.monitor.layers_read
    data = {name: collect_states(model, tokenizer, getattr(splits, name), layers) for name in ("train", "validation")}
    first = data["train"][1]
    assert first.states.shape[:2] == (2, len(splits.train[1].text)) and (first.labels == 1).any()
    monitor = model.model.monitor
    with torch.no_grad():
        for parameter in monitor.parameters():
            parameter.normal_(0, 0.02)

    def token_auroc(scorer, split):
        return detection_report(scorer, data[split], data[split])["token_auroc"]

    before = {split: token_auroc(monitor_scorer(monitor), split) for split in data}
    losses = train_scorer(monitor, monitor_scorer(monitor), data["train"], epochs=15, lr=1e-2)
    assert losses[-1] < 0.8 * losses[0]
    # The monitor learns to flag the wrong tokens: it separates its training chains almost perfectly and held-out
    # chains well, far above where it started (measured: train 0.54 -> 0.94, held-out 0.62 -> 0.87).
    after = {split: token_auroc(monitor_scorer(monitor), split) for split in data}
    assert after["train"] >= 0.9 and after["validation"] >= 0.75
    assert after["validation"] > before["validation"] + 0.1
    probe = LinearProbe(model.config.hidden_size)
    probe_before = token_auroc(probe, "train")
    train_scorer(probe, probe, data["train"], epochs=15, lr=3e-3)
    # The probe's one-batch epoch losses swing with the pos-weighted BCE; its ranking of the tokens is what improves.
    assert token_auroc(probe, "train") > probe_before + 0.1
    # Scores of the trained monitor reach the model's own outputs (same module, same weights).
    chain = splits.validation[1]
    ids = tokenizer(chain.text, return_tensors="pt")["input_ids"]
    expected = torch.sigmoid(monitor_scorer(monitor)(data["validation"][1].states[:, None], None))[0]
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).anomaly_scores[0], expected, atol=1e-5, rtol=1e-5)


def test_collecting_states_stops_after_the_last_layer_read_and_keeps_them_exact():
    _, model = stock_and_monitor("llama", monitor_layers=[0])
    chain = make_chain(PROBLEM, 1, "off_by_ten")
    tokenizer = char_tokenizer()
    calls = []
    hook = model.model.layers[1].register_forward_hook(lambda *args: calls.append(1))
    (item,) = collect_states(model, tokenizer, [chain], [0])
    hook.remove()
    assert not calls  # layer 1 never ran
    with torch.no_grad():
        full = model(**tokenizer(chain.text, return_tensors="pt"), output_hidden_states=True)
    torch.testing.assert_close(item.states[0], full.hidden_states[1][0], atol=0, rtol=0)
    assert full.anomaly_scores is not None  # the model's side branch works after a stopped call
