"""The content-gated `dynamic` encoding (BERT): the module against the float64 reference (outputs and gradients), a
row's encoding independent of padding and of the batch's length (the seed used the padded length), its
initialization equal to `sinusoidal`, the refusal on the decoders, training, save/load, remote code and conversion."""

import subprocess
import sys
import textwrap

import pytest
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError

import hf_archs
from hf_archs.designs.positional import naive
from hf_archs.designs.positional.design import DynamicPositionEncoding, row_positions
from hf_archs.testing import VOCAB
from tests.conftest import quiet
from tests.designs.positional.test_design import (
    bert_config,
    fractional_positions,
    gemma3_config,
    llama_config,
    lora_train_save_merge,
    randomized,
)


def assert_outputs_and_gradients_match(actual, expected, inputs, seed):
    torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-10)
    cotangent = torch.randn(actual.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    grads = torch.autograd.grad((actual * cotangent).sum(), inputs)
    expected_grads = torch.autograd.grad((expected * cotangent).sum(), inputs)
    for index, (a, e) in enumerate(zip(grads, expected_grads)):
        assert e.abs().any(), index  # every input moves the output: no gradient compared on zeros
        torch.testing.assert_close(a, e, atol=1e-10, rtol=1e-10, msg=f"gradient {index}")


def randomized_model(config, seed: int = 0, auto=transformers.AutoModel):
    """A model whose dynamic encoding has random parameters (gates away from 1/2, c away from 1)."""
    torch.manual_seed(seed)
    model = auto.from_config(config).eval()
    encoding = model.base_model.embeddings.position_embeddings
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, parameter in encoding.named_parameters():
            scale = 1.0 if name in ("content_factor", "length_factor", "content_scale") else 0.3
            parameter.copy_(torch.randn(parameter.shape, generator=g) * scale)
        encoding.length_factor.fill_(3.0)  # a clearly length-dependent gate
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_dynamic_matches_reference(seed):
    config = bert_config(positional_encoding="dynamic", hidden_size=12, max_position_embeddings=16)
    module = randomized(DynamicPositionEncoding(config), seed)
    # Rows of different lengths (their own ℓ) in one batch: fractional positions, the longest row below the batch's L.
    positions = fractional_positions(seed, batch=3, length=5, high=30.0)
    g = torch.Generator().manual_seed(20 + seed)
    content = torch.randn(3, 5, 12, generator=g, dtype=torch.float64, requires_grad=True)
    actual = module(positions, content)
    params = dict(module.named_parameters())
    expected = naive.dynamic(positions, content, config.max_position_embeddings, params)
    assert actual.shape == (3, 5, 12) and actual.dtype == torch.float64
    assert_outputs_and_gradients_match(actual, expected, [positions, content, *params.values()], seed)


def test_dynamic_needs_the_content():
    module = DynamicPositionEncoding(bert_config(positional_encoding="dynamic"))
    with pytest.raises(ValueError, match="gates the position signal by the content"):
        module(torch.arange(5))


def test_row_positions_count_each_row_real_tokens():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = torch.tensor([[0, 0, 0, 1, 2], [0, 1, 2, 2, 2], [0, 1, 2, 3, 4]], dtype=torch.float32)
    torch.testing.assert_close(row_positions(mask, mask.shape, "cpu"), expected)
    torch.testing.assert_close(row_positions(None, mask.shape, "cpu"), torch.arange(5.0)[None])


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_does_not_change_a_row_encoding(side):
    """Seed problem: its length gate read the padded batch length, so a row batched with a longer one (or padded)
    got another encoding for every token. Here a row alone and the same row padded to 11 tokens in a batch agree."""
    model = randomized_model(bert_config(positional_encoding="dynamic"))
    g = torch.Generator().manual_seed(3)
    short, long = torch.randint(3, VOCAB, (1, 6), generator=g), torch.randint(3, VOCAB, (1, 11), generator=g)
    pad = torch.zeros(1, 5, dtype=torch.long)
    padded = torch.cat([pad, short], 1) if side == "left" else torch.cat([short, pad], 1)
    ids = torch.cat([padded, long])
    mask = (torch.arange(11) >= 5) if side == "left" else (torch.arange(11) < 6)
    mask = torch.stack([mask, torch.ones(11, dtype=torch.bool)]).long()
    with torch.no_grad():
        alone = model(input_ids=short).last_hidden_state[0]
        batched = model(input_ids=ids, attention_mask=mask).last_hidden_state[0, mask[0].bool()]
        long_alone = model(input_ids=long).last_hidden_state[0]
        long_batched = model(input_ids=ids, attention_mask=mask).last_hidden_state[1]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(long_batched, long_alone, atol=1e-5, rtol=1e-5)


def test_length_gate_reads_the_row_length():
    """The length gate is not dead: the same tokens at the same positions get another encoding in a longer row."""
    model = randomized_model(bert_config(positional_encoding="dynamic"))
    encoding = model.embeddings.position_embeddings
    content = torch.randn(1, 9, model.config.hidden_size, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        short = encoding(torch.arange(5.0)[None], content[:, :5])
        long = encoding(torch.arange(9.0)[None], content)[:, :5]
    assert (short - long).abs().max() > 1e-3


def test_dynamic_at_initialization_is_sinusoidal():
    """c = 1, content gate σ(0) = 1/2, length gate σ(0) = 1/2, s = 4a: the same function as `sinusoidal` with the
    same other weights (hence the conversion fidelity of `sinusoidal`)."""
    torch.manual_seed(0)
    dynamic = transformers.AutoModel.from_config(bert_config(positional_encoding="dynamic")).eval()
    sinusoidal = transformers.AutoModel.from_config(bert_config(positional_encoding="sinusoidal")).eval()
    state = {k: v for k, v in dynamic.state_dict().items() if "position_embeddings" not in k}
    assert not sinusoidal.load_state_dict(state, strict=False).unexpected_keys
    ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = sinusoidal(input_ids=ids).last_hidden_state
        torch.testing.assert_close(dynamic(input_ids=ids).last_hidden_state, expected, atol=1e-6, rtol=1e-6)
        # Not trivially: without the position term the outputs differ.
        dynamic.embeddings.position_embeddings.position_scale.zero_()
        assert (dynamic(input_ids=ids).last_hidden_state - expected).abs().max() > 1e-3


@pytest.mark.parametrize("backbone", [llama_config, gemma3_config], ids=["llama", "gemma3"])
def test_dynamic_is_refused_on_the_decoders(backbone):
    with pytest.raises(StrictDataclassClassValidationError, match="cached decoding does not know"):
        backbone(positional_encoding="dynamic")


def test_dynamic_runs_past_max_position_embeddings():
    model = randomized_model(bert_config(positional_encoding="dynamic", max_position_embeddings=8))
    ids = torch.randint(3, VOCAB, (2, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        default = model(input_ids=ids).last_hidden_state
        explicit = model(input_ids=ids, position_ids=torch.arange(20)[None].float()).last_hidden_state
    torch.testing.assert_close(default, explicit)


def test_every_dynamic_parameter_trains():
    """At initialization the gate's output layer is zero, so its hidden layer and f_c get no gradient yet; every other
    parameter does, and after one step all of them do."""
    torch.manual_seed(0)
    model = transformers.AutoModelForMaskedLM.from_config(bert_config(positional_encoding="dynamic")).train()
    encoding = model.bert.embeddings.position_embeddings
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(3, VOCAB, (2, 10), generator=torch.Generator().manual_seed(0))
    waiting = {"gate_in.weight", "gate_in.bias", "content_factor"}
    for step in range(2):
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        for name, parameter in encoding.named_parameters():
            moved = parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)
            assert moved is (step > 0 or name not in waiting), (step, name)
        optimizer.step()


@pytest.mark.slow
def test_save_and_load_keep_the_dynamic_encoding(tmp_path):
    model = randomized_model(bert_config(positional_encoding="dynamic"), auto=transformers.AutoModelForMaskedLM)
    ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(6))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    model.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids=ids, attention_mask=mask).logits, model(input_ids=ids, attention_mask=mask).logits
        )
    torch.save(
        {"ids": ids, "mask": mask, "expected": model(input_ids=ids, attention_mask=mask).logits}, tmp_path / "io.pt"
    )
    # The content-gated embeddings live in the model's own code: they travel with the checkpoint.
    script = textwrap.dedent(f"""
        import sys, torch, transformers

        class BlockHfArchs:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "hf_archs":
                    raise ImportError("hf_archs is blocked in this process")
        sys.meta_path.insert(0, BlockHfArchs())

        io = torch.load({str(tmp_path / "io.pt")!r})
        model = transformers.AutoModelForMaskedLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model)
        with torch.no_grad():
            actual = model(input_ids=io["ids"], attention_mask=io["mask"]).logits
        torch.testing.assert_close(actual, io["expected"], atol=1e-6, rtol=1e-6)
        print("OK")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_lora_trains_the_dynamic_encoding_in_full(tmp_path):
    """The encoding is called with (positions, content) through PEFT's `modules_to_save` wrapper, trains, and
    survives save / load / merge."""
    from peft import LoraConfig

    from hf_archs.training import design_modules_to_save

    torch.manual_seed(0)
    path = tmp_path / "base"
    transformers.AutoModelForMaskedLM.from_config(bert_config(positional_encoding="dynamic")).save_pretrained(path)
    base = transformers.AutoModelForMaskedLM.from_pretrained(path)
    assert design_modules_to_save(base) == ["position_embeddings"]
    before = base.bert.embeddings.position_embeddings.position_scale.detach().clone()
    config = LoraConfig(r=4, target_modules=["query", "value"], modules_to_save=["position_embeddings"])
    merged = lora_train_save_merge(
        base, lambda: transformers.AutoModelForMaskedLM.from_pretrained(path), config, tmp_path
    )
    assert not torch.equal(merged.bert.embeddings.position_embeddings.position_scale, before)


def test_conversion_has_the_sinusoidal_fidelity(stock_dirs, tmp_path):
    """Converting a stock BERT: the learned table is gone (reported), and the change is the sinusoidal variant's on
    every batch without left padding."""
    reports = {
        name: quiet(
            hf_archs.convert,
            "positional",
            str(stock_dirs["base"]),
            tmp_path / name,
            design_settings={"positional_encoding": name},
            progress=False,
        )
        for name in ("dynamic", "sinusoidal")
    }
    assert reports["dynamic"].identity is False
    dynamic, sinusoidal = reports["dynamic"].max_abs_diff, reports["sinusoidal"].max_abs_diff
    assert max(dynamic.values()) > 1e-3
    assert dynamic.keys() == sinusoidal.keys() and "left_padding" in dynamic
    for key in dynamic:
        if key == "left_padding":
            continue  # there `sinusoidal` (like stock BERT) shifts the row's positions, `dynamic` counts them per row
        assert abs(dynamic[key] - sinusoidal[key]) <= 1e-5, (key, dynamic[key], sinusoidal[key])
