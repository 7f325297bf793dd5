"""LoRA wrapping that also trains the new parameters of `hf_archs` designs."""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraModel
from torch import nn
from transformers import Trainer

from ..core.model import design_parameter_names, is_design_module


def design_modules_to_save(model: nn.Module) -> list[str]:
    """Leaf names of the modules holding a design's new parameters, for `LoraConfig(modules_to_save=...)`.

    Design models mark those modules with the class attribute `hf_archs_design_module = True` (for example a
    `semantic_tau` module in every attention layer). PEFT matches `modules_to_save` by leaf name, so the names are
    returned deduplicated and sorted. Stock models have no such modules and give `[]`.

    Raises:
        ValueError: if an unmarked module shares a leaf name with a design module, since PEFT would then train and
            save that stock module too.
    """
    design_prefixes: list[str] = []
    for name, module in model.named_modules():
        inside_design = any(name.startswith(prefix + ".") for prefix in design_prefixes)
        # A design module nested in another one is already saved with its parent; wrapping it twice breaks PEFT.
        # One without parameters (a frozen table, a buffer) has nothing to train: the base checkpoint holds it.
        has_parameters = next(module.parameters(), None) is not None
        if name and is_design_module(module) and not inside_design and has_parameters:
            design_prefixes.append(name)
    names = sorted({prefix.rsplit(".", 1)[-1] for prefix in design_prefixes})

    clashes = sorted(
        name
        for name, module in model.named_modules()
        if name.rsplit(".", 1)[-1] in names and not any(name == p or name.startswith(p + ".") for p in design_prefixes)
    )
    if clashes:
        raise ValueError(
            f"Design module names {names} also match unmarked modules {clashes[:5]}; rename the design modules so "
            "that `modules_to_save` selects only them."
        )
    return names


def default_lora_target_modules(model: nn.Module) -> list[str] | str:
    """PEFT's default LoRA target modules for `model.config.model_type`.

    `hf_archs` registers its model types in PEFT's mapping, so designs get the same targets as their stock family.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = LoraModel.target_module_mapping.get(model_type)
    if targets is None:
        raise ValueError(
            f"PEFT has no default LoRA target modules for model type {model_type!r}. Import `hf_archs` so that its "
            "model types are registered with PEFT, or use a model type that PEFT supports."
        )
    return targets


LORA_TARGETS = ("default", "all-linear")


def apply_lora(
    model: nn.Module,
    *,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.05,
    task_type: str | None = None,
    train_design_parameters: bool = True,
    target_modules: str = "default",
) -> PeftModel:
    """Wrap `model` with LoRA adapters (and its design modules as `modules_to_save`).

    target_modules: "default" (PEFT's default targets for the model type) or "all-linear" (every linear layer but the
    output head; with a large rank, the capacity control of a design that trains many parameters).
    """
    if target_modules not in LORA_TARGETS:
        raise ValueError(f"target_modules must be one of {LORA_TARGETS}, got {target_modules!r}.")
    default_lora_target_modules(model)  # fail early with a clear message; PEFT resolves the same mapping itself
    modules_to_save = design_modules_to_save(model) if train_design_parameters else []
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=None if target_modules == "default" else target_modules,
        modules_to_save=modules_to_save or None,
        task_type=task_type,
    )
    return get_peft_model(model, config)


def optimizer_parameter_groups(
    model: nn.Module, learning_rate: float, design_learning_rate: float | None
) -> list[dict]:
    """Optimizer parameter groups: the design's new parameters (a handful of scalars such as tau, starting at the
    identity setting) can take a larger step than the LoRA matrices, and take no weight decay."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    design_names = design_parameter_names(model)
    design = [p for name, p in trainable if name in design_names]
    others = [p for name, p in trainable if name not in design_names]
    groups = [{"params": others, "lr": learning_rate}]
    if design:
        groups.append({"params": design, "lr": design_learning_rate or learning_rate, "weight_decay": 0.0})
    return groups


class DesignParameterTrainer(Trainer):
    """A `Trainer` whose optimizer gives the design's new parameters their own learning rate.

    The optimizer is the one `args.optim` names (Trainer's own selection, `get_optimizer_cls_and_kwargs`); only its
    parameter groups come from `optimizer_parameter_groups`. It is built in `create_optimizer`, not passed in:
    Trainer calls it after wrapping the model, which FSDP needs (it refuses a ready-made optimizer), and DDP and
    single-process runs get the same groups.
    """

    def __init__(self, *args, design_learning_rate: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.design_learning_rate = design_learning_rate

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            optimizer_cls, kwargs = self.optimizer_cls_and_kwargs or self.get_optimizer_cls_and_kwargs(
                self.args, model
            )
            takes_groups = isinstance(optimizer_cls, type) and issubclass(optimizer_cls, torch.optim.Optimizer)
            if not takes_groups or {"params", "model", "optimizer_dict"} & kwargs.keys():
                # GaLore, LOMO, layer-wise and factory optimizers (Muon, Dion) choose their own parameters: the
                # design's learning rate could not be applied.
                raise ValueError(
                    f"optim={self.args.optim!r} builds its own parameter groups; {type(self).__name__} needs one "
                    "that takes them (e.g. adamw_torch, adafactor, sgd)."
                )
            groups = optimizer_parameter_groups(model, self.args.learning_rate, self.design_learning_rate)
            groups[0]["weight_decay"] = self.args.weight_decay
            self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
