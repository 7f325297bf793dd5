"""The monitor as a side branch: the main path is the stock model's bitwise for any monitor weights, the monitor
matches its float64 loop reference (outputs and gradients), never reads the future, decides per row, and its cached
scores (with the window carried as `monitor_memory`) equal a full forward's."""

import copy

import pytest
import torch
from transformers import Gemma3ForCausalLM, LlamaForCausalLM

import hf_archs  # noqa: F401
from hf_archs.designs.monitor.naive import monitor_logits_naive
from hf_archs.registry import zoo_model
from hf_archs.testing import tiny_gemma3_config, tiny_llama_config


BACKBONES = ("llama", "gemma3")


def stock_and_monitor(backbone: str, dtype=torch.float32, **settings):
    """A random stock decoder and the monitor model type with the same weights and random monitor weights."""
    tiny = {"llama": tiny_llama_config, "gemma3": tiny_gemma3_config}[backbone]()
    stock_class = {"llama": LlamaForCausalLM, "gemma3": Gemma3ForCausalLM}[backbone]
    torch.manual_seed(0)
    stock = stock_class(tiny).to(dtype).eval()
    entry = zoo_model("monitor", backbone)
    settings = {"monitor_layers": [0, 1], "monitor_window": 3, "monitor_heads": 2, "monitor_dim": 16, **settings}
    config = entry.config_class(**{**tiny.to_dict(), **settings})
    model = entry.model_classes["AutoModelForCausalLM"](config).to(dtype).eval()
    missing, unexpected = model.load_state_dict(stock.state_dict(), strict=False)
    assert not unexpected and all(name.startswith("model.monitor.") for name in missing)
    with torch.no_grad():  # large random monitor weights: whatever they are, the main path must not move
        for parameter in model.model.monitor.parameters():
            parameter.normal_(0, 0.5)
    return stock, model


def padded_batch(seed=0, batch=3, length=9):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, 128, (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0  # left padding
    return input_ids, attention_mask


@pytest.mark.parametrize("backbone", BACKBONES)
def test_main_path_equals_stock_exactly_for_any_monitor_weights(backbone):
    stock, model = stock_and_monitor(backbone)
    input_ids, attention_mask = padded_batch()
    with torch.no_grad():
        expected = stock(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        actual = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    assert torch.equal(actual.logits, expected.logits)
    for a, e in zip(actual.hidden_states, expected.hidden_states, strict=True):
        assert torch.equal(a, e)
    assert actual.anomaly_scores.shape == input_ids.shape
    assert actual.anomaly_scores.std() > 1e-3  # the monitor really ran with its random weights
    stock.generation_config.eos_token_id = model.generation_config.eos_token_id = None
    kwargs = dict(attention_mask=attention_mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(model.generate(input_ids, **kwargs), stock.generate(input_ids, **kwargs))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_monitor_matches_float64_reference_outputs_and_gradients(backbone):
    _, model = stock_and_monitor(backbone, dtype=torch.float64)
    input_ids, attention_mask = padded_batch(seed=1)
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    # hidden_states[l + 1] is the output of layer l (the last one after the final norm, so read it via a hook).
    captured = {}
    hooks = [
        model.model.layers[i].register_forward_hook(lambda m, a, o, i=i: captured.__setitem__(i, o)) for i in (0, 1)
    ]
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=attention_mask)
    for hook in hooks:
        hook.remove()
    monitor = model.model.monitor
    expected = monitor_logits_naive(monitor, captured, attention_mask)
    valid = attention_mask.bool()
    torch.testing.assert_close(out.anomaly_logits[valid], expected[valid], atol=1e-10, rtol=1e-10)

    # Gradients with respect to every monitor weight, on a fresh random loss weighting.
    weights = torch.randn(input_ids.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (out.anomaly_logits[valid] * weights[valid]).sum().backward()
    actual_grads = {name: p.grad.clone() for name, p in monitor.named_parameters()}
    monitor.zero_grad()
    reference = monitor_logits_naive(monitor, {i: h.detach() for i, h in captured.items()}, attention_mask)
    (reference[valid] * weights[valid]).sum().backward()
    for name, parameter in monitor.named_parameters():
        torch.testing.assert_close(actual_grads[name], parameter.grad, atol=1e-10, rtol=1e-8, msg=name)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_scores_never_read_the_future_and_rows_are_independent(backbone):
    _, model = stock_and_monitor(backbone)
    input_ids, attention_mask = padded_batch(seed=3)
    changed = input_ids.clone()
    changed[:, 6:] = 5
    changed[2] = 7  # another row changes entirely
    with torch.no_grad():
        scores = model(input_ids=input_ids, attention_mask=attention_mask).anomaly_scores
        later_changed = model(input_ids=changed, attention_mask=attention_mask).anomaly_scores
        alone = model(input_ids=input_ids[1:2]).anomaly_scores
    early = attention_mask.bool()[:2].clone()
    early[:, 6:] = False  # real tokens before the change (a padding position's score means nothing)
    torch.testing.assert_close(later_changed[:2][early], scores[:2][early], atol=1e-6, rtol=1e-6)
    assert (later_changed[:2, 6:] - scores[:2, 6:]).abs().max() > 1e-4
    torch.testing.assert_close(alone, scores[1:2], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_cached_scores_with_the_window_in_memory_equal_a_full_forward(backbone):
    _, model = stock_and_monitor(backbone)
    input_ids, attention_mask = padded_batch(seed=4)
    with torch.no_grad():
        full = model(input_ids=input_ids, attention_mask=attention_mask).anomaly_scores
        first = model(input_ids=input_ids[:, :5], attention_mask=attention_mask[:, :5], monitor_memory=torch.empty(0))
        assert first.monitor_memory.shape[:3] == (2, 3, 5)
        cache, memory, pieces = first.past_key_values, first.monitor_memory, [first.anomaly_scores]
        for t in range(5, 9):
            step = model(
                input_ids=input_ids[:, t : t + 1],
                attention_mask=attention_mask[:, : t + 1],
                past_key_values=cache,
                monitor_memory=memory,
            )
            cache, memory = step.past_key_values, step.monitor_memory
            pieces.append(step.anomaly_scores)
        blind = model(input_ids=input_ids[:, :1], past_key_values=cache)
    valid = attention_mask.bool()
    torch.testing.assert_close(torch.cat(pieces, dim=1)[valid], full[valid], atol=1e-5, rtol=1e-5)
    # Without the window, a call continuing a cache cannot score: None, never a score that saw one token.
    assert blind.anomaly_scores is None and blind.anomaly_logits is None
    assert blind.logits is not None


@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_direct_forward_call_of_the_base_model_runs_the_monitor_too(backbone):
    """Callers such as sentence-transformers call `model.forward(...)`, which skips module hooks: the base model's
    input handling (taking `monitor_memory` out of the stock arguments) and the monitor's fields must not depend on
    them."""
    _, model = stock_and_monitor(backbone)
    input_ids, attention_mask = padded_batch(seed=5)
    with torch.no_grad():
        expected = model.model(input_ids=input_ids, attention_mask=attention_mask, monitor_memory=torch.empty(0))
        actual = model.model.forward(input_ids=input_ids, attention_mask=attention_mask, monitor_memory=torch.empty(0))
    assert torch.equal(actual.last_hidden_state, expected.last_hidden_state)
    for name in ("anomaly_logits", "anomaly_scores", "monitor_memory"):
        assert torch.equal(getattr(actual, name), getattr(expected, name)), name


@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_deep_copy_runs_on_its_own(backbone):
    """`copy.deepcopy` (Transformers' own tests, assisted decoding) gives a model whose hooks fill its own scratch: the
    copy computes what the original does, and a copy called while the original's forward is in progress (from a hook
    of the original's first layer) changes nothing of the original's outputs."""
    _, model = stock_and_monitor(backbone)
    twin = copy.deepcopy(model)
    input_ids, attention_mask = padded_batch(seed=6)
    other_ids, other_mask = padded_batch(seed=7)
    fields = ("logits", "anomaly_logits", "anomaly_scores")
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask)
        copied = twin(input_ids=input_ids, attention_mask=attention_mask)
        for name in fields:
            assert torch.equal(getattr(copied, name), getattr(expected, name)), name

        nested = []
        hook = model.model.layers[0].register_forward_hook(
            lambda *_: nested.append(twin(input_ids=other_ids, attention_mask=other_mask))
        )
        try:
            during = model(input_ids=input_ids, attention_mask=attention_mask)
        finally:
            hook.remove()
        alone = twin(input_ids=other_ids, attention_mask=other_mask)
    for name in fields:
        assert torch.equal(getattr(during, name), getattr(expected, name)), name
        assert torch.equal(getattr(nested[0], name), getattr(alone, name)), name


def test_bad_settings_are_refused():
    entry = zoo_model("monitor", "llama")
    for bad in ({"monitor_dim": 10, "monitor_heads": 4}, {"monitor_window": 0}, {"monitor_layers": [5]}):
        with pytest.raises(Exception, match="monitor_"):
            entry.config_class(**tiny_llama_config().to_dict(), **bad)
