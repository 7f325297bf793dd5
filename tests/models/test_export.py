"""`torch.export` of the forward (`tests/conformance/export.py`) for every model type of the zoo, at the identity and
the active setting: the exported program equals the eager forward on fresh inputs with other padding.

Default tier: the active setting on one model type per design (its GQA Llama type where it has one); the rest is
`slow` (an export takes 5-30 s on 2 CPU cores).
"""

import pytest
import torch

import hf_archs  # noqa: F401  (registers the zoo)
from tests.conformance.export import check_export
from tests.models.test_contract import load
from tests.zoo_cases import CASES, VOCAB


def representative(case) -> bool:
    """One model type per design (composition): its GQA Llama type, else its first."""
    same_design = [other for other in CASES if other.entry.design_name == case.entry.design_name]
    llama = [other for other in same_design if other.variant.name == "gqa_untied"]
    return case is (llama or same_design)[0]


def params():
    return [
        pytest.param(
            case,
            setting,
            id=f"{case.id}-{setting}",
            marks=() if setting == "active" and representative(case) else pytest.mark.slow,
        )
        for case in CASES
        for setting in ("identity", "active")
    ]


def inputs(case, seed: int, padded_row: int) -> dict:
    """Two rows of 9 tokens; `padded_row` padded by 3 (left in a decoder, right in an encoder)."""
    input_ids = torch.randint(3, VOCAB, (2, 9), generator=torch.Generator().manual_seed(seed))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[padded_row, :3] = 0 if case.is_decoder else 1
    if not case.is_decoder:
        attention_mask[padded_row, -3:] = 0
    arguments = {"input_ids": input_ids.masked_fill(attention_mask == 0, 0), "attention_mask": attention_mask}
    if case.is_decoder:
        arguments["use_cache"] = False  # the output would hold a cache object
    return arguments


@pytest.mark.parametrize(("case", "setting"), params())
def test_exported_forward_matches_eager(case, setting, converted):
    model = load(case, converted(case, active=setting == "active"))
    check_export(model, inputs(case, seed=0, padded_row=0), inputs(case, seed=1, padded_row=1))
