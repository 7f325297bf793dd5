"""Monitored generation strategies: with the monitor off (or never passing its threshold) and one branch, each is
token for token the stock model's greedy `generate()`; a flagged token rewinds the cache exactly to the last step
boundary; retry and tree-of-thought react to the monitor."""

import pytest
import torch

from hf_archs.designs.monitor.generation import (
    STRATEGIES,
    MonitoredGenerateOutput,
    monitored_decoding,
    monitored_generate,
)
from tests.designs.monitor.test_monitor import padded_batch, stock_and_monitor


@pytest.mark.parametrize("backbone", ["llama", "gemma3"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_monitor_off_and_one_branch_is_greedy_generate_of_the_stock_model(backbone, strategy):
    stock, model = stock_and_monitor(backbone)
    stock.generation_config.eos_token_id = None  # a fixed length: every row decodes max_new_tokens
    input_ids, attention_mask = padded_batch(seed=5)
    expected = stock.generate(input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False)
    boundary = [int(t) for t in expected[0, -10::3]]  # some generated tokens act as step boundaries
    runs = {
        "stock, monitor off": monitored_generate(
            stock, input_ids, attention_mask, strategy=strategy, monitor=False, branches=1,
            max_new_tokens=10, boundary_token_ids=boundary, stop_token_ids=[],
        ),
        "monitor model, threshold never passed": monitored_generate(
            model, input_ids, attention_mask, strategy=strategy, threshold=1.0, branches=1,
            max_new_tokens=10, boundary_token_ids=boundary, stop_token_ids=[],
        ),
    }  # fmt: skip
    for name, rows in runs.items():
        for row, result in enumerate(rows):
            assert torch.equal(result.new_tokens, expected[row, -10:]), (name, row)
            assert result.decoded_tokens == 10 and not result.rewinds, name
    scores = runs["monitor model, threshold never passed"][1].anomaly_scores
    assert scores.shape == (10,) and ((scores >= 0) & (scores <= 1)).all() and scores.std() > 1e-3


@pytest.mark.parametrize("backbone", ["llama", "gemma3"])
def test_a_flagged_token_rewinds_exactly_to_the_last_step_boundary(backbone):
    _, model = stock_and_monitor(backbone)
    input_ids = padded_batch(seed=6)[0][1:2]
    prompt_length = input_ids.shape[1]
    greedy = monitored_generate(model, input_ids, max_new_tokens=8, stop_token_ids=[])[0].new_tokens.tolist()
    boundary_token = greedy[2]
    # The step boundary is after the last occurrence of the boundary token before the flagged position (5).
    expected_boundary = prompt_length + max(i for i in range(5) if greedy[i] == boundary_token) + 1
    flagged = prompt_length + 5
    result = monitored_generate(
        model, input_ids, strategy="backtrack", max_new_tokens=8, stop_token_ids=[], max_rewinds=1,
        boundary_token_ids=[boundary_token], flag=lambda position, score: position == flagged,
    )[0]  # fmt: skip
    (rewind,) = result.rewinds
    assert rewind.flagged_position == flagged and rewind.boundary == expected_boundary
    assert rewind.cache_length == expected_boundary and rewind.memory_length == expected_boundary
    # Everything before the boundary is kept; the run decodes the rewound tokens again (extra compute counted).
    assert (
        result.sequence[:expected_boundary].tolist()
        == input_ids[0].tolist() + greedy[: expected_boundary - prompt_length]
    )
    assert result.decoded_tokens == 8 + (flagged + 1 - expected_boundary)
    assert len(result.new_tokens) == 8


@pytest.mark.slow
def test_cot_retry_and_tree_of_thought_react_to_the_monitor():
    _, model = stock_and_monitor("llama")
    input_ids = padded_batch(seed=7)[0][1:2]
    greedy = monitored_generate(model, input_ids, max_new_tokens=8, stop_token_ids=[])[0]
    # A threshold just under the greedy chain's 4th score: the greedy chain is flagged, so it is retried.
    retry = monitored_generate(
        model, input_ids, strategy="cot_retry", max_new_tokens=8, stop_token_ids=[], max_retries=3, temperature=1.5,
        threshold=float(greedy.anomaly_scores[3]) - 1e-6,
    )[0]  # fmt: skip
    assert retry.decoded_tokens > 8  # more tokens decoded than kept
    assert len(retry.new_tokens) == 8
    tree = monitored_generate(
        model, input_ids, strategy="tot", branches=3, max_new_tokens=8, stop_token_ids=[], temperature=1.5,
        boundary_token_ids=[int(t) for t in greedy.new_tokens[1::2]], threshold=1.0,
    )[0]  # fmt: skip
    assert tree.decoded_tokens > len(tree.new_tokens)  # three branches per step
    assert len(tree.new_tokens) == 8
    # The same search with a threshold the untrained monitor's saturated scores pass: candidates flagged by the
    # monitor are dropped, so another path is kept, with fewer flagged tokens (measured: 5 of 8 above it -> 1).
    threshold = 0.999
    watched = monitored_generate(
        model, input_ids, strategy="tot", branches=3, max_new_tokens=8, stop_token_ids=[], temperature=1.5,
        boundary_token_ids=[int(t) for t in greedy.new_tokens[1::2]], threshold=threshold,
    )[0]  # fmt: skip
    assert not torch.equal(watched.new_tokens, tree.new_tokens)
    assert (watched.anomaly_scores > threshold).sum() < (tree.anomaly_scores > threshold).sum()


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["llama", "gemma3"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_strategies_run_through_generate(backbone, strategy):
    """`generate(custom_generate=monitored_decoding, ...)`: with the monitor off and one branch, the stock greedy
    `generate()` output itself (left-padded prompts included); with the monitor on, `monitored_generate`'s tokens and
    anomaly scores in a `MonitoredGenerateOutput`."""
    stock, model = stock_and_monitor(backbone)
    stock.generation_config.eos_token_id = None
    model.generation_config.eos_token_id = None
    input_ids, attention_mask = padded_batch(seed=5)
    expected = stock.generate(input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False)
    boundary = [int(t) for t in expected[0, -10::3]]
    through_generate = stock.generate(
        input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False,
        custom_generate=monitored_decoding, strategy=strategy, monitor=False, branches=1, boundary_token_ids=boundary,
    )  # fmt: skip
    assert torch.equal(through_generate, expected)

    out = model.generate(
        input_ids, attention_mask=attention_mask, max_new_tokens=10, do_sample=False, return_dict_in_generate=True,
        custom_generate=monitored_decoding, strategy=strategy, threshold=0.5, boundary_token_ids=boundary, seed=3,
    )  # fmt: skip
    rows = monitored_generate(
        model, input_ids, attention_mask, strategy=strategy, max_new_tokens=10, threshold=0.5,
        boundary_token_ids=boundary, stop_token_ids=[], seed=3,
    )  # fmt: skip
    assert isinstance(out, MonitoredGenerateOutput)
    assert torch.equal(out.sequences[:, : input_ids.shape[1]], input_ids)
    for b, row in enumerate(rows):
        n = len(row.new_tokens)
        assert torch.equal(out.sequences[b, input_ids.shape[1] : input_ids.shape[1] + n], row.new_tokens)
        torch.testing.assert_close(out.anomaly_scores[b, :n], row.anomaly_scores.float(), atol=0, rtol=0)
        assert out.decoded_tokens[b] == row.decoded_tokens
