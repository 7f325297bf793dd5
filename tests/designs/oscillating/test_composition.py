"""Per-layer masks compose with a logit-term design: semantic + oscillating on Llama, where the semantic design's
fused-kernel key (its SDPA fallback off CUDA) must receive each layer's own mask too."""

import pytest
import torch

import hf_archs  # noqa: F401
from hf_archs.backbones.llama import LLAMA
from hf_archs.core.model_types import design_config_class, design_model_classes
from hf_archs.designs.oscillating.design import OSCILLATING
from hf_archs.designs.semantic.attention import FUSED_KERNEL_KEY
from hf_archs.designs.semantic.design import SEMANTIC
from tests.designs.oscillating.test_attention import (
    EXPECTED_SIGHT,
    _first_layer_sees,
    assert_same_outputs_at_real_tokens,
)


SemanticOscillatingLlamaConfig = design_config_class((SEMANTIC, OSCILLATING), LLAMA, module=__name__)
SemanticOscillatingLlamaModel = design_model_classes(SemanticOscillatingLlamaConfig, __name__).by_auto["AutoModel"]


def composed_model(implementation: str, **settings):
    config = SemanticOscillatingLlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        pad_token_id=0,
        semantic_tau_init=0.5,
        **settings,
    )
    torch.manual_seed(0)
    return SemanticOscillatingLlamaModel._from_config(config, attn_implementation=implementation).eval()


def test_every_accepted_path_of_the_composition_agrees_with_eager():
    reference = composed_model("eager")
    accepted = SemanticOscillatingLlamaModel.accepted_attn_implementations(reference.config)
    assert set(accepted) == {"eager", "sdpa", FUSED_KERNEL_KEY}
    for implementation in ("sdpa", FUSED_KERNEL_KEY):
        assert_same_outputs_at_real_tokens(composed_model(implementation), reference, implementation)
    # The semantic design's logit term rules out Transformers' flex kernel, whatever the masks.
    with pytest.raises(ValueError, match="drop the semantic, oscillating design's attention term"):
        composed_model("flex_attention")


def test_the_fused_kernel_key_applies_each_layers_pattern():
    for pattern, sight in EXPECTED_SIGHT.items():
        model = composed_model(FUSED_KERNEL_KEY, oscillating_layer_overrides={0: pattern})
        for mask_kind in ("none", "ones", "padded"):
            assert _first_layer_sees(model, mask_kind) == sight, (pattern, mask_kind)
