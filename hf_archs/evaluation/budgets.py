"""Named, frozen training/evaluation budgets: the same numbers for a design and its stock source.

A budget is serialized into every record and hashed into the run folder, so a changed budget is a different run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields, replace

from ..errors import UserError
from ..training.lora import LORA_TARGETS


# Fields added to `Budget` after results were stored (see `Budget.training_dict`); append new ones here.
_LATER_FIELDS = ("mntp_steps", "mntp_probability", "eval_split", "lora_target_modules")
# Fields that only set how one model is trained. The two sides of a comparison may differ in these alone (each
# side's own choice from a validation search); everything else, the evaluation above all, is the same for both.
TRAINING_FIELDS = (
    "steps",
    "batch_size",
    "learning_rate",
    "design_learning_rate",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "train_size",
    "mntp_steps",
    "mntp_probability",
)
# Training fields that change only the design's training: stock has no design parameters
# (`training.lora.optimizer_parameter_groups`), so it trains the same whatever their value.
DESIGN_ONLY_FIELDS = ("design_learning_rate",)
# Held-out splits a budget may evaluate on; "train" is not one (a model is never scored on what it trained on).
EVAL_SPLITS = ("test", "validation")


@dataclass(frozen=True)
class Budget:
    """Everything that fixes how much a model is trained and on how much it is evaluated.

    `batch_size` is the global batch (split over processes under DDP). `seeds` fixes LoRA init, data order and
    dropout of each paired run; the held-out items are the same for every seed (they are chosen with `eval_seed`).
    `eval_split` is the held-out split the task evaluates: "test" for reported results, "validation" for choosing
    settings (`hf_archs.evaluation.search`); it is part of the fingerprint, so the two never share records.
    """

    name: str
    steps: int
    batch_size: int
    learning_rate: float
    design_learning_rate: float
    lora_r: int
    lora_alpha: int
    train_size: int | None  # training entries/texts drawn from (None: the whole train split)
    eval_size: int  # held-out items per evaluation
    seq_len: int  # training sequence length L for the language-modelling tasks
    seeds: tuple[int, ...]
    eval_seed: int = 0
    eval_batch_size: int = 64
    bootstrap_resamples: int = 2000
    confidence: float = 0.95
    # multi-step arithmetic
    arithmetic_train_size: int = 2000
    arithmetic_eval_size: int = 200
    arithmetic_steps: int = 3
    arithmetic_max_operand: int = 20
    arithmetic_shots: int = 2
    arithmetic_max_new_tokens: int = 48
    # length extrapolation: evaluate at these multiples of seq_len
    extrapolation_factors: tuple[int, ...] = (1, 2, 4, 8)
    # cost measurement
    cost_batch_size: int = 4
    cost_repeats: int = 3
    # Masked next-token prediction before the task's own training (LLM2Vec): `mntp_steps` LoRA steps on WordNet
    # texts for models with a causal LM head (0: no such stage), masking `mntp_probability` of the tokens.
    mntp_steps: int = 0
    mntp_probability: float = 0.2
    eval_split: str = "test"
    # "default": PEFT's LoRA targets for the model type; "all-linear": every linear layer but the head (a stock side
    # given as many trained parameters as a design that trains far more: the capacity control).
    lora_target_modules: str = "default"

    def __post_init__(self):
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            expected = (int, float) if f.type == "float" else int
            if f.type in ("int", "float") and (isinstance(value, bool) or not isinstance(value, expected)):
                problems.append(f"{f.name} must be a number, got {value!r}")
        if problems:  # type errors first: the range checks below compare numbers
            raise UserError(f"Budget {self.name!r}: " + "; ".join(problems) + ".")
        if self.steps < 1 or self.batch_size < 1 or self.eval_size < 1 or self.seq_len < 2:
            problems.append("steps, batch_size, eval_size must be >= 1 and seq_len >= 2")
        if not (self.learning_rate > 0 and self.design_learning_rate > 0):
            problems.append(
                f"learning_rate and design_learning_rate must be > 0, got {self.learning_rate}, "
                f"{self.design_learning_rate}"
            )
        negative = [
            f.name for f in fields(self) if f.type == "int" and f.name != "eval_seed" and getattr(self, f.name) < 0
        ]
        if negative or any(not isinstance(s, int) for s in self.seeds):
            problems.append(f"sizes must not be negative ({negative}) and seeds must be integers")
        if any(not isinstance(k, int) or k < 1 for k in self.extrapolation_factors):
            problems.append(f"extrapolation_factors must be integers >= 1, got {list(self.extrapolation_factors)}")
        if self.lora_r < 1 or self.lora_alpha <= 0 or self.eval_batch_size < 1 or self.bootstrap_resamples < 1:
            problems.append("lora_r, lora_alpha, eval_batch_size and bootstrap_resamples must be >= 1")
        if self.train_size is not None and (
            isinstance(self.train_size, bool) or not isinstance(self.train_size, int) or self.train_size < 1
        ):
            problems.append(f"train_size must be null (the whole split) or an integer >= 1, got {self.train_size!r}")
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            problems.append(f"seeds must be distinct and non-empty, got {list(self.seeds)}")
        if self.mntp_steps < 0 or not 0 < self.mntp_probability < 1:
            problems.append("mntp_steps must be >= 0 and mntp_probability in (0, 1)")
        if self.lora_target_modules not in LORA_TARGETS:
            targets = self.lora_target_modules
            problems.append(f"lora_target_modules must be one of {list(LORA_TARGETS)}, got {targets!r}")
        if self.eval_split not in EVAL_SPLITS:
            problems.append(f"eval_split must be one of {list(EVAL_SPLITS)}, got {self.eval_split!r}")
        if not 0 < self.confidence < 1:
            problems.append(f"confidence must be in (0, 1), got {self.confidence}")
        if problems:
            raise UserError(f"Budget {self.name!r}: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["extrapolation_factors"] = list(self.extrapolation_factors)
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "budget") -> Budget:
        """A budget from JSON data; unknown keys (a typo such as "stpes") and missing required ones are refused."""
        if not isinstance(data, dict):
            raise UserError(f"{source}: a budget is a JSON object, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        unknown = sorted(set(data) - known)
        missing = [key for key in required if key not in data]
        if unknown or missing:
            raise UserError(
                f"{source}: "
                + "; ".join(
                    part
                    for part in (
                        f"unknown budget keys {unknown}" if unknown else "",
                        f"missing budget keys {missing}" if missing else "",
                    )
                    if part
                )
                + f". Budget keys: {sorted(known)}."
            )
        data = dict(data)
        for key in ("seeds", "extrapolation_factors"):
            if not isinstance(data.get(key, ()), (list, tuple)):
                raise UserError(f"{source}: {key} must be a list of integers, got {data[key]!r}.")
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def training_dict(self) -> dict:
        """The fields that change what a run computes (seeds excluded: results are stored per seed).

        Fields added after results were stored are left out while at their default, so a budget that does not use
        them keeps its fingerprint and run folder (and its stored records stay valid).
        """
        data = self.to_dict()
        data.pop("seeds")
        data.pop("name")
        defaults = {f.name: f.default for f in fields(self)}
        for key in _LATER_FIELDS:
            if data[key] == defaults[key]:
                data.pop(key)
        return data

    def fingerprint(self) -> str:
        """Short hash of what a run computes; part of the run folder name (a changed budget is a different run)."""
        text = json.dumps(self.training_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def with_overrides(self, **overrides) -> Budget:
        return replace(self, **overrides)

    def differences(self, other: Budget) -> dict[str, tuple]:
        """Field -> (self's value, other's value) where the two differ (the name aside)."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if f.name != "name" and getattr(self, f.name) != getattr(other, f.name)
        }


BUDGETS: dict[str, Budget] = {
    # Seconds on CPU with a tiny random model: exercises every code path, numbers mean nothing.
    "ci": Budget(
        name="ci",
        steps=2,
        batch_size=8,
        learning_rate=1e-3,
        design_learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        train_size=64,
        eval_size=24,
        seq_len=32,
        seeds=(0, 1, 2),
        eval_batch_size=16,
        bootstrap_resamples=300,
        arithmetic_train_size=32,
        arithmetic_eval_size=6,
        arithmetic_steps=2,
        arithmetic_max_operand=9,
        arithmetic_shots=1,
        arithmetic_max_new_tokens=8,
        extrapolation_factors=(1, 2),
        cost_batch_size=2,
        cost_repeats=1,
    ),
    # Minutes on a laptop CPU with a small real model (e.g. all-MiniLM-L6-v2, ~22M parameters).
    "laptop": Budget(
        name="laptop",
        steps=60,
        batch_size=32,
        learning_rate=5e-4,
        design_learning_rate=1e-2,
        lora_r=8,
        lora_alpha=16,
        train_size=None,
        eval_size=500,
        seq_len=128,
        seeds=(0, 1, 2),
        arithmetic_train_size=2000,
        arithmetic_max_new_tokens=40,
        extrapolation_factors=(1, 2, 4, 8),
    ),
    # The real numbers, on one GPU.
    "gpu": Budget(
        name="gpu",
        steps=1000,
        batch_size=64,
        learning_rate=2e-4,
        design_learning_rate=1e-2,
        lora_r=16,
        lora_alpha=32,
        train_size=None,
        eval_size=2000,
        seq_len=512,
        seeds=(0, 1, 2, 3, 4),
        eval_batch_size=128,
        bootstrap_resamples=10000,
        arithmetic_train_size=20000,
        arithmetic_eval_size=1000,
        arithmetic_steps=4,
        arithmetic_max_operand=99,
        arithmetic_shots=4,
        arithmetic_max_new_tokens=64,
        extrapolation_factors=(1, 2, 4, 8),
        cost_batch_size=8,
        cost_repeats=5,
    ),
    # Gemma-3-270m on a CPU: a short LoRA run on 96 held-out items (the stored Gemma comparisons).
    "gemma3-cpu": Budget(
        name="gemma3-cpu",
        steps=12,
        batch_size=8,
        learning_rate=5e-4,
        design_learning_rate=1e-2,
        lora_r=8,
        lora_alpha=16,
        train_size=None,
        eval_size=96,
        seq_len=64,
        seeds=(0, 1, 2),
        eval_batch_size=16,
    ),
}
# Variants the stored experiments used: a design learning rate the design's parameters survive (1e-2 collapsed
# some), and a masked next-token stage before the Gemma encoders' contrastive training (LLM2Vec).
BUDGETS["laptop-design-lr-5e-4"] = BUDGETS["laptop"].with_overrides(
    name="laptop-design-lr-5e-4", design_learning_rate=5e-4
)
BUDGETS["gemma3-cpu-design-lr-1e-5"] = BUDGETS["gemma3-cpu"].with_overrides(
    name="gemma3-cpu-design-lr-1e-5", design_learning_rate=1e-5
)
BUDGETS["gemma3-cpu-mntp"] = BUDGETS["gemma3-cpu"].with_overrides(name="gemma3-cpu-mntp", mntp_steps=4)
# Gemma-3-270m on one H200: more steps, items and tokens than on the CPU.
BUDGETS["gemma3-gpu"] = BUDGETS["gemma3-cpu"].with_overrides(
    name="gemma3-gpu",
    steps=100,
    batch_size=16,
    design_learning_rate=5e-4,
    eval_size=256,
    seq_len=128,
    eval_batch_size=32,
)


def get_budget(name_or_budget: str | Budget) -> Budget:
    if isinstance(name_or_budget, Budget):
        return name_or_budget
    try:
        return BUDGETS[name_or_budget]
    except KeyError:
        raise UserError(f"Unknown budget {name_or_budget!r}; expected one of {', '.join(BUDGETS)}.") from None
