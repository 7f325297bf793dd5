"""Named, frozen training/evaluation budgets: the same numbers for a design and its stock source.

A budget is serialized into every record and hashed into the run folder, so a changed budget is a different run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace


# Fields added to `Budget` after results were stored (see `Budget.training_dict`); append new ones here.
_LATER_FIELDS = ("mntp_steps", "mntp_probability")


@dataclass(frozen=True)
class Budget:
    """Everything that fixes how much a model is trained and on how much it is evaluated.

    `batch_size` is the global batch (split over processes under DDP). `seeds` fixes LoRA init, data order and
    dropout of each paired run; the held-out items are the same for every seed (they are chosen with `eval_seed`).
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

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.eval_size < 1 or self.seq_len < 2:
            raise ValueError(f"Budget {self.name!r}: steps, batch_size, eval_size must be >= 1 and seq_len >= 2.")
        if len(self.seeds) < 1 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"Budget {self.name!r}: seeds must be distinct and non-empty, got {self.seeds}.")
        if self.mntp_steps < 0 or not 0 < self.mntp_probability < 1:
            raise ValueError(f"Budget {self.name!r}: mntp_steps must be >= 0 and mntp_probability in (0, 1).")
        if not 0 < self.confidence < 1:
            raise ValueError(f"Budget {self.name!r}: confidence must be in (0, 1), got {self.confidence}.")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        data["extrapolation_factors"] = list(self.extrapolation_factors)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Budget:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("seeds", "extrapolation_factors"):
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
}


def get_budget(name_or_budget: str | Budget) -> Budget:
    if isinstance(name_or_budget, Budget):
        return name_or_budget
    try:
        return BUDGETS[name_or_budget]
    except KeyError:
        raise ValueError(f"Unknown budget {name_or_budget!r}; expected one of {', '.join(BUDGETS)}.") from None
