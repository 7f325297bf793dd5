"""Arithmetic chains with injected errors, labelled per token and per step (training and judging the monitor).

A chain is the harness's arithmetic problem (`hf_archs.evaluation.arithmetic`) written out step by step, with at
most one error injected at step k; the steps after it continue consistently from the wrong value, so the final
answer is wrong too:

    Q: 17 + 5 * 3 - 9 (left to right)
    A: 17 + 5 = 22; 22 * 3 = 67; 67 - 9 = 58. Answer: 58        (off_by_one at step 1)

Error types: `off_by_one` (result ± 1), `off_by_ten` (result ± 10), `wrong_operation` (the result of another
operation on the same operands) and `copy` (the step's left operand is not the previous result, ± 1..3, and the
step is computed from it). The error span runs from the first wrong character (the result, or the left operand for
`copy`) to the end of step k.

Labels, the convention of earliest-wrong-step judging: a token is 1 if it overlaps the error span, 0 if it lies in
the solution before the span's end, and ignored (-100) after the error step (whether the continuation "is wrong"
is not defined) and in the question. A step is 1 if it is the error step, 0 before it, ignored after it. Clean
chains are 0 throughout their solution.

`split_chains` keeps error types and positions for the held-out split that training never sees.
"""

import random
from dataclasses import dataclass

from hf_archs.evaluation.arithmetic import OPERATIONS, ArithmeticConfig, Problem, apply, arithmetic_splits


ERROR_TYPES = ("off_by_one", "off_by_ten", "wrong_operation", "copy")
IGNORE = -100


@dataclass(frozen=True)
class Chain:
    """A worked chain as text, with the character spans of its steps and of its error (None when clean)."""

    problem: Problem
    text: str
    solution_start: int  # first character of the solution (after "A:")
    step_spans: tuple[tuple[int, int], ...]  # step k: [start, end) in `text`, its separator included
    error_step: int | None = None
    error_type: str | None = None
    error_span: tuple[int, int] | None = None
    written_answer: int | None = None

    @property
    def is_clean(self) -> bool:
        return self.error_step is None


def _wrong_result(rng: random.Random, error_type: str, left: int, op: str, right: int, result: int) -> int:
    if error_type == "off_by_one":
        candidates = [result - 1, result + 1]
    elif error_type == "off_by_ten":
        candidates = [result - 10, result + 10]
    elif error_type == "wrong_operation":
        candidates = [apply(left, other, right) for other in OPERATIONS if other != op]
    else:
        raise ValueError(error_type)
    candidates = [c for c in candidates if c >= 0 and c != result]
    return rng.choice(candidates)


def make_chain(problem: Problem, error_step: int | None = None, error_type: str | None = None, seed: int = 0) -> Chain:
    """The chain of `problem`, with an error of `error_type` injected at step `error_step` (or clean)."""
    if (error_step is None) != (error_type is None):
        raise ValueError("error_step and error_type go together.")
    if error_type is not None and error_type not in ERROR_TYPES:
        raise ValueError(f"Unknown error type {error_type!r}; choose from {ERROR_TYPES}.")
    rng = random.Random(f"monitor-chain-{seed}-{problem.question}-{error_step}-{error_type}")
    text = problem.prompt() + " "
    solution_start = len(text)
    value, spans, error_span = problem.start, [], None
    for k, (op, operand) in enumerate(problem.operations):
        start = len(text)
        left = value
        if k == error_step and error_type == "copy":
            left = value + rng.choice([-3, -2, -1, 1, 2, 3])
            left = left if left >= 0 else value + 1
        result = apply(left, op, operand)
        if k == error_step and error_type != "copy":
            result = _wrong_result(rng, error_type, left, op, operand, result)
        prefix = f"{left} {op} {operand} = "
        text += prefix + str(result)
        error_from = start if error_type == "copy" else start + len(prefix)
        text += "; " if k < len(problem.operations) - 1 else f". Answer: {result}"
        spans.append((start, len(text)))
        if k == error_step:
            error_span = (error_from, len(text))
        value = result
    return Chain(problem, text, solution_start, tuple(spans), error_step, error_type, error_span, value)


def token_labels(chain: Chain, offsets: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Per token (given its character offsets in `chain.text`): (label 1/0/IGNORE, step index or -1 outside)."""
    labels, steps = [], []
    for start, end in offsets:
        step = next((k for k, (a, b) in enumerate(chain.step_spans) if a <= start < b), -1)
        if start < chain.solution_start or end <= start:  # the question, or a special token
            labels.append(IGNORE)
            step = -1
        elif chain.is_clean:
            labels.append(0)
        elif start >= chain.error_span[1]:
            labels.append(IGNORE)
        else:
            labels.append(int(end > chain.error_span[0]))
        steps.append(step)
    return labels, steps


def step_labels(chain: Chain) -> list[int]:
    """Per step: 1 for the error step, 0 before it, IGNORE after it (clean chains: all 0)."""
    if chain.is_clean:
        return [0] * len(chain.step_spans)
    return [
        0 if k < chain.error_step else 1 if k == chain.error_step else IGNORE for k in range(len(chain.step_spans))
    ]


@dataclass(frozen=True)
class ChainSplits:
    train: list[Chain]
    validation: list[Chain]
    test: list[Chain]


def split_chains(
    train_problems: int,
    test_problems: int,
    *,
    config: ArithmeticConfig = ArithmeticConfig(),
    train_types: tuple[str, ...] = ("off_by_one", "wrong_operation"),
    train_positions: tuple[int, ...] = (0, 1),
    seed: int = 0,
) -> ChainSplits:
    """Chains from the harness's arithmetic splits: train and validation from its train problems with errors of
    `train_types` at `train_positions` only (each problem clean once and once with an error); the test split from
    its held-out problems, with errors whose type or position training never saw (each problem clean once and once
    with such an error)."""
    problems, held_out = arithmetic_splits(train_problems, test_problems, config, seed=seed)
    rng = random.Random(f"monitor-split-{seed}")
    seen = [(t, p) for t in train_types for p in train_positions]
    unseen = [
        (t, p) for t in ERROR_TYPES for p in range(config.steps) if t not in train_types or p not in train_positions
    ]
    if not unseen:
        raise ValueError("Every error type and position is seen in training: nothing is held out.")

    def chains(pool, kinds):
        out = []
        for problem in pool:
            out.append(make_chain(problem, seed=seed))
            error_type, position = rng.choice(kinds)
            out.append(make_chain(problem, position, error_type, seed=seed))
        return out

    cut = len(problems) * 4 // 5
    return ChainSplits(chains(problems[:cut], seen), chains(problems[cut:], seen), chains(held_out, unseen))
