"""Generation conformance: every way `generate()` reuses earlier work gives the logits of a full recompute.

Each check takes a causal LM (in eval mode, eos as the caller wants it) and its inputs (`input_ids`, optionally an
`attention_mask`), runs `generate()` the way under test and the same greedy (or beam) search with `use_cache=False`,
which recomputes the whole sequence at every step, and asserts equal sequences and equal per-step **logits** (equal
tokens alone can hide a wrong cache). A check raises AssertionError saying what differs.

Only torch and transformers are imported here: the same checks run on a checkpoint loaded with
`trust_remote_code=True` in an environment where the package that wrote it is not installed.
"""

import re

import torch
from transformers import CompileConfig


ATOL = 1e-5
MAX_NEW_TOKENS = 6


def _generate(model, inputs: dict, **kwargs):
    kwargs = {
        "max_new_tokens": MAX_NEW_TOKENS,
        "do_sample": False,
        "pad_token_id": _pad_token_id(model),
        "return_dict_in_generate": True,
        "output_logits": True,
        **kwargs,
    }
    with torch.no_grad():
        return model.generate(**inputs, **kwargs)


def _pad_token_id(model) -> int:
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None)
    return 0 if pad is None else pad


def recompute(model, inputs: dict, **kwargs):
    """The reference: the same search without a cache (the whole sequence at every step)."""
    return _generate(model, inputs, use_cache=False, **kwargs)


def assert_same_generation(actual, expected, what: str, atol: float = ATOL, new_tokens_only: bool = False) -> None:
    """Equal sequences and per-step logits (and beam scores where present). `new_tokens_only`: `actual` holds only
    the generated tokens (as `generate(inputs_embeds=...)` returns them)."""
    expected_sequences = expected.sequences
    if new_tokens_only:
        expected_sequences = expected_sequences[:, -actual.sequences.shape[1] :]
    assert torch.equal(actual.sequences, expected_sequences), (
        f"{what}: sequences differ\n{actual.sequences}\n{expected_sequences}"
    )
    _assert_same_logits(actual.logits, expected.logits, what, atol)
    if getattr(expected, "sequences_scores", None) is not None:
        torch.testing.assert_close(actual.sequences_scores, expected.sequences_scores, atol=atol, rtol=atol)


def _assert_same_logits(actual: tuple, expected: tuple, what: str, atol: float) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} steps vs {len(expected)}"
    for step, (got, want) in enumerate(zip(actual, expected)):
        torch.testing.assert_close(got, want, atol=atol, rtol=atol, msg=lambda m: f"{what}, step {step}: {m}")


def assert_cached_generation_matches_recompute(model, inputs: dict, kwargs: dict | None = None, atol: float = ATOL):
    """Greedy generation with the default (dynamic) KV cache gives the sequences and per-step logits of a full
    recompute; returns the recomputed output. `kwargs` go to both calls."""
    kwargs = kwargs or {}
    expected = recompute(model, inputs, **kwargs)
    assert_same_generation(_generate(model, inputs, use_cache=True, **kwargs), expected, "dynamic cache", atol)
    return expected


def check_static_cache(model, inputs: dict, cache_implementation: str = "static", atol: float = ATOL) -> None:
    """A static cache (keys of the cache's full capacity from the first step; sliding-window layers roll within
    their window) gives the recompute."""
    actual = _generate(model, inputs, cache_implementation=cache_implementation)
    assert_same_generation(actual, recompute(model, inputs), f"cache_implementation={cache_implementation!r}", atol)


def check_compiled_static_cache(model, inputs: dict, atol: float = ATOL) -> None:
    """Transformers' fast generation: a static cache with the decoding forward under `torch.compile`
    (`compile_config`; forced on CPU too), equal to the recompute. Asserts the compiled call was really used."""
    compile_config = CompileConfig(fullgraph=False, dynamic=False)
    compile_config._compile_all_devices = True  # generate() compiles on accelerators only unless told
    actual = _generate(model, inputs, cache_implementation="static", compile_config=compile_config)
    assert getattr(model, "_compiled_call", None) is not None, "generate() did not compile the forward"
    assert_same_generation(actual, recompute(model, inputs), "static cache, compiled forward", atol)


def check_beam_search(model, inputs: dict, num_beams: int = 3, atol: float = ATOL) -> None:
    """Beam search with a cache (reordered between steps) gives the beams, scores and logits of beam search
    without one."""
    beams = dict(num_beams=num_beams, num_return_sequences=num_beams, output_scores=True)
    actual = _generate(model, inputs, use_cache=True, **beams)
    assert_same_generation(actual, recompute(model, inputs, **beams), f"beam search ({num_beams} beams)", atol)


def check_assisted_decoding(model, inputs: dict, assistant, atol: float = ATOL) -> None:
    """Assisted decoding (the assistant drafts, the model verifies several tokens per forward over its cache, and
    the cache is cropped to the accepted ones) gives greedy recompute. Batch size 1 (Transformers' limit): the first
    row of the inputs."""
    first_row = {name: value[:1] for name, value in inputs.items()}
    actual = _generate(model, first_row, assistant_model=assistant)
    assert_same_generation(actual, recompute(model, first_row), "assisted decoding", atol)


def check_prompt_lookup_decoding(model, inputs: dict, atol: float = ATOL) -> None:
    """Prompt-lookup decoding (drafts copied from the prompt's n-grams, verified like assisted decoding) gives greedy
    recompute. The first row of the inputs, with its tokens repeated so that lookups find candidates."""
    first_row = {name: value[:1].repeat(1, 2) for name, value in inputs.items()}
    actual = _generate(model, first_row, prompt_lookup_num_tokens=3, max_matching_ngram_size=2)
    assert_same_generation(actual, recompute(model, first_row), "prompt-lookup decoding", atol)


def check_continuing_from_returned_cache(model, inputs: dict, atol: float = ATOL) -> None:
    """Generating some tokens, then more from the returned `past_key_values`, gives the recompute of all of them."""
    first_steps = MAX_NEW_TOKENS // 2
    first = _generate(model, inputs, max_new_tokens=first_steps)
    assert first.past_key_values is not None, "generate() returned no past_key_values"
    mask = inputs.get("attention_mask")
    continued_inputs = {"input_ids": first.sequences}
    if mask is not None:
        continued_inputs["attention_mask"] = torch.cat([mask, mask.new_ones(mask.shape[0], first_steps)], dim=-1)
    continued = _generate(
        model, continued_inputs, past_key_values=first.past_key_values, max_new_tokens=MAX_NEW_TOKENS - first_steps
    )
    expected = recompute(model, inputs)
    assert torch.equal(continued.sequences, expected.sequences), (
        f"continued from the returned cache: sequences differ\n{continued.sequences}\n{expected.sequences}"
    )
    _assert_same_logits(first.logits + continued.logits, expected.logits, "continued from the returned cache", atol)


def check_left_padding(model, inputs: dict, atol: float = ATOL) -> None:
    """Each row of a left-padded batch generates (with a cache) what it generates alone, without padding.
    `inputs` must carry an `attention_mask` with left padding."""
    mask = inputs["attention_mask"]
    assert bool((mask[:, -1] == 1).all()) and bool((mask == 0).any()), "the inputs are not left-padded"
    batched = _generate(model, inputs)
    for row in range(mask.shape[0]):
        alone = {"input_ids": inputs["input_ids"][row : row + 1, mask[row].bool()]}
        single = _generate(model, alone)
        length = inputs["input_ids"].shape[1]
        assert torch.equal(batched.sequences[row, length:], single.sequences[0, alone["input_ids"].shape[1] :]), (
            f"left padding: row {row} generates other tokens than alone"
        )
        for step, (got, want) in enumerate(zip(batched.logits, single.logits)):
            torch.testing.assert_close(
                got[row : row + 1],
                want,
                atol=atol,
                rtol=atol,
                msg=lambda m: f"left padding, row {row}, step {step}: {m}",
            )


def check_inputs_embeds(model, inputs: dict, atol: float = ATOL) -> None:
    """Generating from `inputs_embeds` (the input embeddings of the ids) gives the tokens and logits of
    generating from the ids; with a cache and against recompute."""
    with torch.no_grad():
        embeds = model.get_input_embeddings()(inputs["input_ids"])
    from_embeds = {"inputs_embeds": embeds, **{k: v for k, v in inputs.items() if k != "input_ids"}}
    expected = recompute(model, inputs)
    for use_cache in (True, False):
        actual = _generate(model, from_embeds, use_cache=use_cache)
        assert_same_generation(actual, expected, f"inputs_embeds, use_cache={use_cache}", atol, new_tokens_only=True)


def check_logits_to_keep(model, inputs: dict, atol: float = ATOL) -> None:
    """`logits_to_keep=n` returns the last n positions of the full logits (0: all of them)."""
    with torch.no_grad():
        full = model(**inputs, use_cache=False).logits
        for keep in (0, 1, 3):
            kept = model(**inputs, use_cache=False, logits_to_keep=keep).logits
            want = full if keep == 0 else full[:, -keep:]
            assert kept.shape == want.shape, f"logits_to_keep={keep}: shape {tuple(kept.shape)}"
            torch.testing.assert_close(kept, want, atol=atol, rtol=atol, msg=lambda m: f"logits_to_keep={keep}: {m}")


def check_refuses_cached_decoding(model, inputs: dict, match: str) -> None:
    """A model that cannot decode with a KV cache raises a ValueError matching `match` when asked to, and still
    generates without one (each step then equals the argmax of a full forward)."""
    try:
        _generate(model, inputs, use_cache=True)
    except ValueError as error:
        assert re.search(match, str(error)), f"refused, but with another message: {error}"
    else:
        raise AssertionError("generate(use_cache=True) ran on a model that cannot decode with a KV cache")
    generated = recompute(model, inputs)
    sequences = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    with torch.no_grad():
        for step in range(len(generated.logits)):
            call = {"input_ids": sequences}
            if mask is not None:
                call["attention_mask"] = torch.cat([mask, mask.new_ones(mask.shape[0], step)], dim=-1)
            logits = model(**call, use_cache=False).logits[:, -1]
            torch.testing.assert_close(generated.logits[step], logits, atol=ATOL, rtol=ATOL)
            sequences = torch.cat([sequences, logits.argmax(-1, keepdim=True)], dim=-1)
    assert torch.equal(generated.sequences, sequences)
