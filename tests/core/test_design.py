"""What a `Design` declaration refuses."""

import dataclasses

import pytest

from hf_archs.core.design import Capabilities
from hf_archs.registry import DESIGNS


def test_a_design_with_a_logit_term_cannot_declare_flex_attention():
    """Transformers' flex kernel computes the stock logits only: a design adding a term to them must not offer it."""
    semantic = DESIGNS["semantic"]
    assert semantic.logit_term is not None
    with pytest.raises(ValueError, match="cannot declare the flex_attention capability"):
        dataclasses.replace(semantic, capabilities=Capabilities(flex_attention=True))
    masks_only = DESIGNS["oscillating"]
    assert masks_only.logit_term is None and masks_only.capabilities.flex_attention
