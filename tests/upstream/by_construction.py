"""The upstream tests that cannot apply to a model type by construction, with the reason: the one list of exceptions.

Each `Exception_` names upstream test methods (fnmatch patterns) and a predicate on the model type's designs and
its tiny config (the setting applied), read from what the designs declare (`hf_archs.core.design.Design`), never
from model-type names. Such a test is skipped with its reason; every other upstream test must pass.
"""

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hf_archs.core.attention import replaces_query_key
from tests.upstream.testers import backbone_values


@dataclass(frozen=True)
class Exception_:
    tests: tuple[str, ...]
    applies: Callable[[object, object], bool]  # (ZooModel, tiny config) -> whether the tests cannot apply
    reason: str


def _designs(entry):
    return entry.designs if entry is not None else ()


def rotary_has_no_effect(entry, config) -> bool:
    """The backbone's rotary embedding is turned off (`Design.keeps_rotary`) or q·k, the only way it enters the
    logits, is replaced by a logit term (`LogitTerm.replaces_query_key`)."""
    return any(
        (design.keeps_rotary is not None and not design.keeps_rotary(config))
        or (design.logit_term is not None and replaces_query_key([design.logit_term]))
        for design in _designs(entry)
    )


def query_key_unused(entry, config) -> bool:
    """A logit term replaces q·k, so q_proj and k_proj get no gradient."""
    return any(design.logit_term is not None and replaces_query_key([design.logit_term]) for design in _designs(entry))


def side_branch_only(entry, config) -> bool:
    """A side branch that only reads hidden states (`Capabilities.changes_main_path` False): its parameters get
    gradient from its own outputs, not from the loss of the main outputs."""
    return any(design.side_branch and not design.capabilities.changes_main_path for design in _designs(entry))


def reads_token_ids(entry, config) -> bool:
    """A feed-forward input computed from the input ids (`Design.feed_forward_input`'s token table)."""
    return any(design.feed_forward_input is not None for design in _designs(entry))


def narrow_layers(entry, config) -> bool:
    """Layers of narrower widths (`Design.layer_extension`)."""
    return any(design.layer_extension is not None for design in _designs(entry))


def narrow_layers_at_config_tester_width(entry, config) -> bool:
    """Narrower layers need widths that the head count divides; upstream's ConfigTester builds the config at a
    hidden size (BERT's 37) that the default head count does not divide."""
    width = backbone_values(entry.backbone.name)[2].get("hidden_size")
    return narrow_layers(entry, config) and width is not None and width % type(config)().num_attention_heads != 0


def bounded_positions(entry, config) -> bool:
    """Positions only below `max_position_embeddings` (`Capabilities.bounded_positions`)."""
    return any(design.capabilities.bounded_positions for design in _designs(entry))


def position_pair_table(entry, config) -> bool:
    """A learned table over pairs of positions (the random Synthesizer): heads × M² parameters per layer."""
    return bounded_positions(entry, config) and "random" in getattr(config, "synthesizer_kind", "")


BY_CONSTRUCTION: tuple[Exception_, ...] = (
    Exception_(
        ("test_inputs_embeds", "test_inputs_embeds_matches_input_ids"),
        reads_token_ids,
        "the design's feed-forward input is looked up from the input ids: it refuses inputs_embeds alone",
    ),
    Exception_(
        ("test_training_gradient_checkpointing*",),
        query_key_unused,
        "the logit term replaces q·k, so q_proj and k_proj get no gradient (they stay for conversion)",
    ),
    Exception_(
        ("test_training_gradient_checkpointing*",),
        side_branch_only,
        "the side branch reads hidden states and trains through its own outputs; the LM loss gives it no gradient",
    ),
    Exception_(
        ("test_model_rope_scaling*",),
        rotary_has_no_effect,
        "RoPE is off (or q·k, through which it acts, is replaced): RoPE scaling has no effect to check",
    ),
    Exception_(
        ("test_model_rope_scaling_from_config_*",),
        bounded_positions,
        "the design covers positions below max_position_embeddings only (a table over positions); the test sends "
        "1.5 × max_position_embeddings tokens, which it refuses with a clear error",
    ),
    Exception_(
        ("test_model_is_small",),
        position_pair_table,
        "a table over position pairs has heads × max_position_embeddings² parameters per layer: 1.05M at the "
        "upstream tester's 512 positions and 4 heads, above the 1M limit for tiny test models",
    ),
    Exception_(
        ("test_config",),
        narrow_layers_at_config_tester_width,
        "multi-scale layers need widths that the head count divides; ConfigTester's hidden_size 37 has none",
    ),
)


def _matching(exceptions, test_name, entry, config):
    return [
        exception
        for exception in exceptions
        if any(fnmatch.fnmatchcase(test_name, pattern) for pattern in exception.tests)
        and exception.applies(entry, config)
    ]


def applicable_marks(test_name: str, entry, config) -> list:
    """The pytest marks that `test_name` gets on model type `entry` (None: stock) with tiny `config`."""
    if entry is None:
        return []
    skips = _matching(BY_CONSTRUCTION, test_name, entry, config)
    if skips:
        return [pytest.mark.skip(reason="by construction: " + "; ".join(e.reason for e in skips))]
    return []
