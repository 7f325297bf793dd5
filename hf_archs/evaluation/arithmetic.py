"""A generated multi-step arithmetic task: seeded problems, few-shot prompts, greedy generation, answer parsing.

A problem is a start value and a chain of operations applied left to right; its solution writes every step:

    Q: 17 + 5 * 3 - 9 (left to right)
    A: 17 + 5 = 22; 22 * 3 = 66; 66 - 9 = 57. Answer: 57

Values stay non-negative (a subtraction never goes below 0) and multipliers small, so difficulty is set by the
number of steps and the operand range. The train, validation and test splits come from different seeds and the
train split never contains a question of the held-out split it is evaluated on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase


OPERATIONS = ("+", "-", "*")
_ANSWER = re.compile(r"answer\s*:\s*(-?\s*\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ArithmeticConfig:
    """Difficulty knobs."""

    steps: int = 3  # operations per chain
    max_operand: int = 20  # start value and +/- operands are drawn from [1, max_operand]
    max_multiplier: int = 5  # * operands are drawn from [2, max_multiplier]
    operations: tuple[str, ...] = OPERATIONS

    def __post_init__(self):
        if self.steps < 1 or self.max_operand < 1 or self.max_multiplier < 2:
            raise ValueError("steps >= 1, max_operand >= 1 and max_multiplier >= 2 are required.")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown or not self.operations:
            raise ValueError(f"operations must be a non-empty subset of {OPERATIONS}, got {self.operations}")


@dataclass(frozen=True)
class Problem:
    start: int
    operations: tuple[tuple[str, int], ...]

    @property
    def question(self) -> str:
        chain = " ".join(f"{op} {operand}" for op, operand in self.operations)
        return f"{self.start} {chain} (left to right)"

    def steps(self) -> list[tuple[int, str, int, int]]:
        """(left, op, right, result) of every step."""
        value, out = self.start, []
        for op, operand in self.operations:
            result = apply(value, op, operand)
            out.append((value, op, operand, result))
            value = result
        return out

    @property
    def answer(self) -> int:
        return self.steps()[-1][3]

    @property
    def solution(self) -> str:
        chain = "; ".join(f"{a} {op} {b} = {c}" for a, op, b, c in self.steps())
        return f"{chain}. Answer: {self.answer}"

    def prompt(self) -> str:
        return f"Q: {self.question}\nA:"

    def text(self) -> str:
        """The full worked example, as trained on and as shown in few-shot prompts."""
        return f"{self.prompt()} {self.solution}"


def apply(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"unknown operation {op!r}")


def generate_problem(rng: random.Random, config: ArithmeticConfig) -> Problem:
    value = rng.randint(1, config.max_operand)
    start, operations = value, []
    for _ in range(config.steps):
        op = rng.choice(config.operations)
        if op == "-" and value < 1:
            op = "+"
        if op == "*":
            operand = rng.randint(2, config.max_multiplier)
        elif op == "-":
            operand = rng.randint(1, min(value, config.max_operand))
        else:
            operand = rng.randint(1, config.max_operand)
        operations.append((op, operand))
        value = apply(value, op, operand)
    return Problem(start, tuple(operations))


def generate_problems(n: int, seed: int, config: ArithmeticConfig, exclude: set[str] | None = None) -> list[Problem]:
    """`n` distinct problems from `seed` (deterministic), skipping questions in `exclude`."""
    rng = random.Random(f"hf-archs-arithmetic-{seed}")
    exclude = set(exclude or ())
    problems, seen = [], set()
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise ValueError(f"Cannot draw {n} distinct problems with {config}; widen the difficulty knobs.")
        problem = generate_problem(rng, config)
        if problem.question in seen or problem.question in exclude:
            continue
        seen.add(problem.question)
        problems.append(problem)
    return problems


# Split seeds: the test split always comes from TEST_SEED, the validation split from VALIDATION_SEED, the train
# split from TRAIN_SEED + the run's seed.
TEST_SEED = 1_000_003
VALIDATION_SEED = 2_000_003
TRAIN_SEED = 0


def arithmetic_splits(
    train_size: int, test_size: int, config: ArithmeticConfig, seed: int = 0, split: str = "test"
) -> tuple[list[Problem], list[Problem]]:
    """(train, held out): the held-out `split` ("test" or "validation") is fixed by its own seed (the same items for
    every run and seed); the train split comes from `TRAIN_SEED + seed` and excludes every question of that split.

    The train split of a validation run therefore differs from a test run's only where a train problem repeats a
    validation or a test question (the test split is left as it was, so stored test results stay reproducible)."""
    seeds = {"test": TEST_SEED, "validation": VALIDATION_SEED}
    if split not in seeds:
        raise ValueError(f"Unknown arithmetic split {split!r}; expected one of {', '.join(seeds)}.")
    held_out = generate_problems(test_size, seeds[split], config)
    train = generate_problems(train_size, TRAIN_SEED + seed, config, exclude={p.question for p in held_out})
    return train, held_out


def parse_answer(text: str) -> int | None:
    """The integer after the first `Answer:` (case-insensitive, spaces tolerated: tokenizers may add them)."""
    match = _ANSWER.search(text)
    return int(match.group(1).replace(" ", "")) if match else None


def few_shot_prompt(problem: Problem, shots: list[Problem]) -> str:
    return "".join(shot.text() + "\n" for shot in shots) + problem.prompt()


_NEXT_QUESTION = re.compile(r"\bq\s*:", re.IGNORECASE)


def _first_line(text: str) -> str:
    """The completion up to its first newline or next question (some tokenizers decode newlines as spaces)."""
    line = text.strip().split("\n", 1)[0]
    return _NEXT_QUESTION.split(line, 1)[0].strip()


def _tokenize_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str]):
    """Left-padded prompts that start like training texts (with BOS where the tokenizer adds one) but end with the
    prompt itself (no trailing EOS/SEP, which would tell the model the text is over)."""
    adds_bos = tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]
    if adds_bos:
        prompts = [tokenizer.bos_token + prompt for prompt in prompts]
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    inputs.pop("token_type_ids", None)
    return inputs


@torch.no_grad()
def evaluate_arithmetic(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    problems: list[Problem],
    shots: list[Problem],
    *,
    max_new_tokens: int = 48,
    batch_size: int = 16,
) -> dict:
    """Exact-match accuracy of greedy `generate()` completions of few-shot prompts.

    Returns {"metrics": {"accuracy": ...}, "items": {"accuracy": [0/1 per problem]}, "completions": [...]}: only
    the first generated line is parsed (the model may go on with a new question).
    """
    model.eval()
    device = next(model.parameters()).device
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only generation continues from the last real token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    correct, completions = [], []
    try:
        for start in tqdm(range(0, len(problems), batch_size), desc="arithmetic generate", leave=False):
            batch = problems[start : start + batch_size]
            prompts = [few_shot_prompt(p, shots) for p in batch]
            inputs = _tokenize_prompts(tokenizer, prompts).to(device)
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            for problem, text in zip(batch, texts, strict=True):
                line = _first_line(text)
                completions.append(line)
                correct.append(float(parse_answer(line) == problem.answer))
    finally:
        tokenizer.padding_side = padding_side
    accuracy = sum(correct) / max(len(correct), 1)
    return {"metrics": {"accuracy": accuracy}, "items": {"accuracy": correct}, "completions": completions}
