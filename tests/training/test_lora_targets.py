"""LoRA on every linear layer (`lora_target_modules="all-linear"`): the capacity control of a design that trains
many parameters; the default stays PEFT's targets, and budgets stored before the field keep their fingerprint."""

import pytest
import torch
from transformers import LlamaForCausalLM

from hf_archs.errors import UserError
from hf_archs.evaluation import BUDGETS
from hf_archs.testing import tiny_llama_config
from hf_archs.training.lora import apply_lora


def trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_all_linear_targets_every_linear_layer_but_the_head():
    config = tiny_llama_config()
    torch.manual_seed(0)
    rank = 4
    default = apply_lora(LlamaForCausalLM(config), r=rank)
    every = apply_lora(LlamaForCausalLM(config), r=rank, target_modules="all-linear")
    d, kv = config.hidden_size, config.num_key_value_heads * (config.hidden_size // config.num_attention_heads)
    mlp = config.intermediate_size
    # A LoRA pair on an (in -> out) linear layer has r · (in + out) parameters.
    q_and_v = (d + d) + (d + kv)
    every_linear = q_and_v + (d + kv) + (d + d) + 3 * (d + mlp)
    assert trainable(default) == rank * q_and_v * config.num_hidden_layers
    assert trainable(every) == rank * every_linear * config.num_hidden_layers
    assert not any("lm_head.lora" in name for name, _ in every.named_parameters())


def test_unknown_targets_are_refused():
    with pytest.raises(ValueError, match="all-linear"):
        apply_lora(LlamaForCausalLM(tiny_llama_config()), target_modules="q_proj")
    with pytest.raises(UserError, match="lora_target_modules"):
        BUDGETS["ci"].with_overrides(lora_target_modules="everything")


def test_the_default_leaves_stored_fingerprints_alone():
    budget = BUDGETS["gemma3-cpu-design-lr-1e-5"]
    assert budget.fingerprint() == "38b738d8c1"  # the fingerprint in its stored run folders' names
    assert budget.with_overrides(lora_target_modules="all-linear").fingerprint() != budget.fingerprint()
