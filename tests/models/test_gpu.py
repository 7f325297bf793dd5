"""The contract on a CUDA device: attention paths agree, bf16 trains, identity holds, generate() is consistent.

Skipped on machines without CUDA; run on the GPU machine before an issue touching the models is resolved.
"""

import pytest
import torch
import transformers

from hf_archs.conversion import compare_models
from hf_archs.core.model import design_parameter_names
from tests.zoo_cases import VOCAB, case_params


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def load(case, path, auto_class=None, **kwargs):
    model_class = getattr(transformers, auto_class or case.variant.head_auto_class)
    return model_class.from_pretrained(path, **kwargs).to("cuda").eval()


def on_cuda(batches):
    return {name: {k: v.cuda() for k, v in batch.items()} for name, batch in batches.items()}


@pytest.mark.parametrize("case", case_params())
def test_identity_on_cuda(case, stock_dirs, converted, batches):
    if any(design.capabilities.conversion == "trained" for design in case.entry.designs):
        pytest.skip("a design converted by training has no identity setting")
    stock = load(case, stock_dirs[case.variant.name])
    design = load(case, converted(case))
    assert max(compare_models(stock, design, on_cuda(batches)).values()) <= 1e-5


@pytest.mark.parametrize("case", case_params())
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.bfloat16, 5e-2)])
def test_attention_implementations_agree_on_cuda(case, converted, batches, dtype, atol):
    path = converted(case, active=True)
    reference = load(case, path, attn_implementation="eager", dtype=dtype)
    accepted = case.entry.model_classes["AutoModel"].accepted_attn_implementations(case.entry.config_class)
    for implementation in [key for key in accepted if key != "eager"]:
        candidate = load(case, path, attn_implementation=implementation, dtype=dtype)
        differences = compare_models(reference, candidate, on_cuda(batches))
        assert max(differences.values()) <= atol, (implementation, differences)


@pytest.mark.parametrize("case", case_params())
def test_bfloat16_training_step_on_cuda(case, converted):
    model = load(case, converted(case, active=True), dtype=torch.bfloat16).train()
    input_ids = torch.randint(3, VOCAB, (4, 32), device="cuda")
    loss = model(input_ids=input_ids, labels=input_ids).loss
    loss.backward()
    assert torch.isfinite(loss)
    names = design_parameter_names(model)
    design = [p for n, p in model.named_parameters() if n in names]
    # Structure-only designs (per-layer masks) add none; a switch design may add some only in its active setting.
    assert design or not case.adds_parameters
    if case.changes_main_path:  # a side branch trains through its own outputs, never through the LM loss
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in design)


@pytest.mark.parametrize("case", case_params(lambda case: case.decodes_with_cache))
def test_generate_with_cache_matches_recompute_on_cuda(case, converted):
    model = load(case, converted(case, active=True))
    input_ids = torch.randint(3, VOCAB, (2, 7), device="cuda")
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :3] = 0
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    cached = model.generate(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **kwargs)
    recomputed = model.generate(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, **kwargs)
    assert torch.equal(cached, recomputed)


@pytest.mark.parametrize("case", case_params(lambda case: case.decodes_with_cache))
def test_static_cache_matches_dynamic_cache_in_fused_kernels_on_cuda(case, converted):
    """Bug: at a static cache's prefill Transformers passes no mask and keys of the cache's full capacity; the fused
    kernel aligned its causal mask bottom-right, so prompt tokens saw the empty slots."""
    accepted = case.entry.model_classes["AutoModel"].accepted_attn_implementations(case.entry.config_class)
    kernels = [key for key in accepted if key not in ("eager", "sdpa")]
    if not kernels:
        pytest.skip("no fused kernel")
    input_ids = torch.randint(3, VOCAB, (2, 9), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    kwargs = dict(max_new_tokens=4, do_sample=False, pad_token_id=0, return_dict_in_generate=True, output_logits=True)
    for implementation in kernels:
        path = converted(case, active=True)
        model = load(case, path, attn_implementation=implementation, dtype=torch.bfloat16)
        model.generation_config.eos_token_id = None
        dynamic = model.generate(input_ids=input_ids, **kwargs)
        static = model.generate(input_ids=input_ids, cache_implementation="static", **kwargs)
        assert_same_logits_while_in_step(static, dynamic, input_ids.shape[1], 2e-2, implementation)


def assert_same_logits_while_in_step(got, want, prompt_length: int, atol: float, what: str) -> None:
    """Per-step logits equal within `atol` for every row while both runs have fed it the same tokens. In bf16 two
    cache layouts round differently, so greedy search may pick differently where the top two logits lie within
    2 · atol (a near tie; nothing else is allowed to flip it); from there on that row decodes another text and its
    logits are not comparable. (The H100 run of 09252aa failed at step 3 of 4, logits up to 0.5 apart, on the
    sliding-window Gemma only; a flip explains that, the CPU interpreter shows no static/dynamic difference at all.)"""
    in_step = torch.ones(got.sequences.shape[0], dtype=torch.bool, device=got.sequences.device)
    for step, (got_logits, want_logits) in enumerate(zip(got.logits, want.logits)):
        torch.testing.assert_close(
            got_logits[in_step], want_logits[in_step], atol=atol, rtol=0, msg=lambda m: f"{what}, step {step}: {m}"
        )
        flipped = in_step & (got.sequences[:, prompt_length + step] != want.sequences[:, prompt_length + step])
        top_two = want_logits[flipped].float().topk(2, dim=-1).values
        margins = (top_two[:, 0] - top_two[:, 1]).tolist()
        assert all(margin <= 2 * atol for margin in margins), f"{what}, step {step}: a flip at margins {margins}"
        in_step &= ~flipped


@pytest.mark.parametrize("case", case_params())
def test_float32_training_step_with_padding_on_cuda(case, converted, batches):
    """A float32 training step through the SDPA path with padding: finite loss, gradients for the design."""
    model = load(case, converted(case, active=True), attn_implementation="sdpa").train()
    batch = on_cuda(batches)["left_padding"]
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    loss = model(**batch, labels=labels).loss
    loss.backward()
    names = design_parameter_names(model)
    assert torch.isfinite(loss)
    if case.changes_main_path:  # a side branch trains through its own outputs, never through the LM loss
        assert all(p.grad is not None for n, p in model.named_parameters() if n in names)
