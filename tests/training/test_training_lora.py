"""LoRA wrapping: design modules are found, trained and saved; unknown model types fail clearly."""

from types import SimpleNamespace

import pytest
import torch
from peft import get_peft_model_state_dict
from torch import nn
from transformers import LlamaForCausalLM

from hf_archs.testing import tiny_llama_config
from hf_archs.training import apply_lora, default_lora_target_modules, design_modules_to_save


class ToyTau(nn.Module):
    """Stands in for a design's new-parameter module such as `semantic_tau`."""

    hf_archs_design_module = True

    def __init__(self, num_heads: int = 4):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_heads))


class ToyBranch(nn.Module):
    hf_archs_design_module = True

    def __init__(self):
        super().__init__()
        self.inner_tau = ToyTau()  # nested: saved with its parent, not listed on its own
        self.proj = nn.Linear(4, 4)


def tiny_llama_with_tau() -> LlamaForCausalLM:
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama_config())
    for layer in model.model.layers:
        layer.self_attn.semantic_tau = ToyTau()
    return model


def test_design_modules_to_save_finds_marked_modules():
    toy = nn.ModuleDict(
        {
            "blocks": nn.ModuleList(
                [nn.ModuleDict({"semantic_tau": ToyTau(), "linear": nn.Linear(4, 4)}) for _ in range(2)]
            ),
            "branch": ToyBranch(),
        }
    )
    assert design_modules_to_save(toy) == ["branch", "semantic_tau"]


def test_design_modules_to_save_is_empty_for_stock_models():
    assert design_modules_to_save(nn.Sequential(nn.Linear(4, 4), nn.ReLU())) == []


def test_design_module_name_clashing_with_a_stock_module_raises():
    toy = nn.ModuleDict({"a": nn.ModuleDict({"gate": ToyTau()}), "b": nn.ModuleDict({"gate": nn.Linear(4, 4)})})
    with pytest.raises(ValueError, match="gate"):
        design_modules_to_save(toy)


def test_apply_lora_trains_and_saves_design_modules():
    model = apply_lora(tiny_llama_with_tau(), task_type="CAUSAL_LM")
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert any("semantic_tau" in name for name in trainable)
    assert any("lora_A" in name for name in trainable)
    assert not any("mlp" in name or "embed_tokens" in name for name in trainable)  # the rest stays frozen
    saved = get_peft_model_state_dict(model)
    assert any("semantic_tau" in key for key in saved)


def test_apply_lora_can_leave_design_modules_frozen():
    model = apply_lora(tiny_llama_with_tau(), task_type="CAUSAL_LM", train_design_parameters=False)
    assert not any("semantic_tau" in n for n, p in model.named_parameters() if p.requires_grad)


def test_model_type_without_peft_defaults_raises():
    toy = nn.Linear(4, 4)
    toy.config = SimpleNamespace(model_type="not_a_model_type")
    with pytest.raises(ValueError, match="not_a_model_type"):
        default_lora_target_modules(toy)
    with pytest.raises(ValueError, match="not_a_model_type"):
        apply_lora(toy)


def test_design_parameters_get_their_own_learning_rate():
    from hf_archs.training.lora import optimizer_parameter_groups

    model = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    groups = optimizer_parameter_groups(model, learning_rate=1e-4, design_learning_rate=1e-2)
    assert [group["lr"] for group in groups] == [1e-4, 1e-2]
    design = {id(p) for p in groups[1]["params"]}
    names = {name for name, p in model.named_parameters() if id(p) in design}
    assert names and all("semantic_tau" in name for name in names)
    assert all(p.requires_grad for group in groups for p in group["params"])
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for group in groups for p in group["params"]}


def test_the_design_learning_rate_comes_from_the_trainer_not_a_ready_optimizer(tmp_path):
    """Bug: `finetune_lora` handed Trainer a ready optimizer, which Trainer refuses under FSDP ("Passing `optimizers`
    is not allowed if PyTorch FSDP is enabled"); the groups are now built in `create_optimizer`."""
    import torch
    from transformers import TrainingArguments

    from hf_archs.training.lora import DesignParameterTrainer

    model = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-4, report_to="none", use_cpu=True)
    trainer = DesignParameterTrainer(model=model, args=args, design_learning_rate=1e-2)
    assert trainer.optimizer is None  # nothing ready-made: FSDP's validation passes
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.AdamW)
    assert sorted(group["lr"] for group in optimizer.param_groups) == [1e-4, 1e-2]
