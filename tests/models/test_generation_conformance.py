"""Generation conformance (`tests/conformance/generation.py`) on every decoder model type of the zoo, at the identity
and the active setting, under every accepted `attn_implementation` (a kernel key runs its documented fallback where
the kernel cannot: on CPU, the reference SDPA path).

Default tier (the rest is `slow`): the active setting under sdpa, on the GQA Llama variant, and on Gemma 3 (sliding-
window layers) for the caches; the compiled static cache on two representative types only (compiling costs ~25 s).
"""

import pytest
import torch

import hf_archs  # noqa: F401  (registers the zoo)
from tests.conformance import generation
from tests.models.test_contract import load
from tests.zoo_cases import CASES, VOCAB


# By construction: a dictionary design reads its per-token features from the input ids.
READS_INPUT_IDS = ("dictionary",)
COMPILED_IN_DEFAULT = ("semantic_llama-gqa_untied", "positional_llama-gqa_untied")


def implementations(case):
    return case.entry.model_classes["AutoModel"].accepted_attn_implementations(case.entry.config_class)


def params(predicate=lambda case: True, variants=("gqa_untied",), default=lambda case: True):
    """(case, setting, implementation) over the zoo's decoders; the default tier holds the active setting under sdpa
    on `variants` where `default(case)`, the rest is `slow`."""
    found = []
    for case in CASES:
        if not (case.is_decoder and predicate(case)):
            continue
        for setting in ("identity", "active"):
            for implementation in implementations(case):
                in_default = (
                    (setting, implementation) == ("active", "sdpa") and case.variant.name in variants and default(case)
                )
                found.append(
                    pytest.param(
                        case,
                        setting,
                        implementation,
                        id=f"{case.id}-{setting}-{implementation}",
                        marks=() if in_default else pytest.mark.slow,
                    )
                )
    return found


def model_of(converted, case, setting, implementation):
    model = load(case, converted(case, active=setting == "active"), attn_implementation=implementation)
    assert model.config._attn_implementation == implementation
    model.generation_config.eos_token_id = None  # an early stop pads rows and hides later steps
    return model


def prompt(seed=1, length=7, padding=3):
    """Two rows of random tokens (never the pad token); the first row left-padded by `padding` tokens."""
    input_ids = torch.randint(3, VOCAB, (2, length), generator=torch.Generator().manual_seed(seed))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :padding] = 0
    return {"input_ids": input_ids.masked_fill(attention_mask == 0, 0), "attention_mask": attention_mask}


def unpadded_prompt():
    """No padding and no attention mask: Transformers then gives causal layers no mask where it can (at a static
    cache's prefill: keys of the cache's full capacity, aligned top-left)."""
    return {"input_ids": prompt(padding=0)["input_ids"]}


def cached(case):
    return case.decodes_with_cache


ALL_CACHED = params(cached)
CACHES = params(cached, variants=("gqa_untied", "sliding"))


@pytest.mark.parametrize(("case", "setting", "implementation"), CACHES)
def test_dynamic_cache(case, setting, implementation, converted):
    model = model_of(converted, case, setting, implementation)
    for inputs in (prompt(), unpadded_prompt()):
        generation.assert_cached_generation_matches_recompute(model, inputs)


@pytest.mark.parametrize(("case", "setting", "implementation"), CACHES)
def test_static_cache(case, setting, implementation, converted):
    """Bug: at static-cache prefill Transformers passes no mask and keys of the cache's full capacity; the logit-term
    paths aligned their causal mask bottom-right, so prompt tokens saw empty slots (logits off by up to 0.6)."""
    model = model_of(converted, case, setting, implementation)
    for inputs in (prompt(), unpadded_prompt()):
        generation.check_static_cache(model, inputs)


@pytest.mark.parametrize(
    ("case", "setting", "implementation"), params(cached, default=lambda case: case.id in COMPILED_IN_DEFAULT)
)
def test_compiled_static_cache(case, setting, implementation, converted):
    generation.check_compiled_static_cache(model_of(converted, case, setting, implementation), unpadded_prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_beam_search(case, setting, implementation, converted):
    model = model_of(converted, case, setting, implementation)
    for inputs in (prompt(), unpadded_prompt()):
        generation.check_beam_search(model, inputs)


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_assisted_decoding(case, setting, implementation, converted):
    """The assistant is the model at the other setting: its drafts are partly rejected, so the cache is cropped."""
    model = model_of(converted, case, setting, implementation)
    assistant = model_of(converted, case, "identity" if setting == "active" else "active", implementation)
    generation.check_assisted_decoding(model, prompt(), assistant)


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_prompt_lookup_decoding(case, setting, implementation, converted):
    generation.check_prompt_lookup_decoding(model_of(converted, case, setting, implementation), prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_continuing_from_returned_cache(case, setting, implementation, converted):
    generation.check_continuing_from_returned_cache(model_of(converted, case, setting, implementation), prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_left_padding(case, setting, implementation, converted):
    generation.check_left_padding(model_of(converted, case, setting, implementation), prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), ALL_CACHED)
def test_inputs_embeds(case, setting, implementation, converted):
    model = model_of(converted, case, setting, implementation)
    if case.entry.design_name in READS_INPUT_IDS:
        with pytest.raises(ValueError, match="read the input ids: call the model with input_ids, not inputs_embeds"):
            generation.check_inputs_embeds(model, prompt())
        return
    generation.check_inputs_embeds(model, prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), params())
def test_logits_to_keep(case, setting, implementation, converted):
    generation.check_logits_to_keep(model_of(converted, case, setting, implementation), prompt())


@pytest.mark.parametrize(("case", "setting", "implementation"), params(lambda case: not case.decodes_with_cache))
def test_cached_decoding_is_refused(case, setting, implementation, converted):
    """Non-causal layers cannot extend a KV cache (capability `cached_generation` False): generate() says so, and
    generates without a cache."""
    model = model_of(converted, case, setting, implementation)
    if setting == "identity":  # every layer keeps the stock causal mask at the identity setting
        generation.assert_cached_generation_matches_recompute(model, prompt())
        return
    generation.check_refuses_cached_decoding(
        model, prompt(), r"cannot decode left to right with a KV cache: layers \d"
    )
