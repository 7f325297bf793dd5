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


@pytest.mark.parametrize(("optim", "expected"), [("sgd", "SGD"), ("adafactor", "Adafactor")])
def test_the_optimizer_is_the_one_args_optim_names(tmp_path, optim, expected):
    """Bug: `create_optimizer` built AdamW whatever `optim` said; Trainer's selection now picks the class and only
    the parameter groups (the design's own learning rate) are ours."""
    from transformers import TrainingArguments

    from hf_archs.training.lora import DesignParameterTrainer

    model = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    args = TrainingArguments(output_dir=str(tmp_path), optim=optim, learning_rate=1e-4, report_to="none", use_cpu=True)
    optimizer = DesignParameterTrainer(model=model, args=args, design_learning_rate=1e-2).create_optimizer()
    assert type(optimizer).__name__ == expected
    assert sorted(group["lr"] for group in optimizer.param_groups) == [1e-4, 1e-2]


def test_the_fine_tune_optimizer_steps_exactly_as_the_hand_built_adamw(tmp_path):
    """The fine-tune's arguments (`optim="adamw_torch"`) give the optimizer every stored comparison was trained
    with, torch's AdamW over `optimizer_parameter_groups` with the arguments' weight decay: three steps from the
    same start end in bit-identical parameters."""
    from hf_archs.training.finetune import _training_arguments
    from hf_archs.training.lora import DesignParameterTrainer, optimizer_parameter_groups

    args = _training_arguments(tmp_path, max_steps=3, batch_size=2, learning_rate=1e-3, seed=0, label_names=[])
    args.weight_decay = 0.1  # the fine-tune's is 0: a nonzero one shows which group takes it
    ours = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    reference = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    reference.load_state_dict(ours.state_dict())
    optimizers = [
        DesignParameterTrainer(model=ours, args=args, design_learning_rate=1e-2).create_optimizer(),
        torch.optim.AdamW(optimizer_parameter_groups(reference, 1e-3, 1e-2), weight_decay=0.1),
    ]
    ours.eval(), reference.eval()  # no dropout: both see the same forward
    ids = torch.randint(0, ours.config.vocab_size, (2, 8))
    for _ in range(3):
        for model, optimizer in zip((ours, reference), optimizers, strict=True):
            model(input_ids=ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    for (name, a), b in zip(ours.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_an_optimizer_that_chooses_its_own_parameters_is_refused(tmp_path):
    from transformers import TrainingArguments

    from hf_archs.training.lora import DesignParameterTrainer

    model = apply_lora(tiny_llama_with_tau(), r=2, alpha=4)
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    galore_like = (torch.optim.AdamW, {"params": list(model.parameters()), "lr": 1e-4})
    trainer = DesignParameterTrainer(model=model, args=args, optimizer_cls_and_kwargs=galore_like)
    with pytest.raises(ValueError, match="builds its own parameter groups"):
        trainer.create_optimizer()
