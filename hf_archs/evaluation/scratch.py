"""The from-scratch study's rows: `hf-archs pretrain` records (`<out>/<run>.json`) judged design vs stock.

Records of the same task and budget (preset, sequence length, batch, steps, tokens, learning rate, precision) are
one study. In each, every design arm is compared with the stock arm and, where it was trained, with the stock arm
widened to the design's parameter count (`--match-params`), paired by seed over the seeds both sides have, with the
harness's statistics and verdict rule (`harness.aggregate`, `stats.VERDICT_RULE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .budgets import Budget
from .leaderboard import parameters_text, stored_json
from .records import EvalRecord
from .report import fmt, interval_text
from .stats import MetricComparison
from .tasks import DECODER, ENCODER, Task


PRETRAIN_TASKS = ("pretrain_clm", "pretrain_mlm")
STOCK = "stock"


def is_pretrain_record(data) -> bool:
    """A record written by `hf-archs pretrain` (its task is one of `PRETRAIN_TASKS`)."""
    return isinstance(data, dict) and data.get("task") in PRETRAIN_TASKS and "record_version" in data


def _not_evaluated(*args):
    raise RuntimeError("pretrain records are written by `hf-archs pretrain`; this task only judges them")


def _task(name: str, factors: tuple[int, ...]) -> Task:
    """The metrics judged: perplexity at each evaluated multiple of the training length for decoders (from the
    per-window losses, as the harness's perplexity task), the MLM loss for encoders."""
    if name == "pretrain_mlm":
        return Task(name, "MLM loss on fixed masks", (ENCODER,), None, {"loss": False}, _not_evaluated)
    keys = ["perplexity" if k == 1 else f"perplexity@{k}x" for k in factors]
    derived = {key: (key.replace("perplexity", "loss"), np.exp) for key in keys}
    metrics = dict.fromkeys(keys, False)
    return Task(name, "validation perplexity", (DECODER,), None, metrics, _not_evaluated, derived=derived)


@dataclass(frozen=True)
class _Judging:
    """What `aggregate` reads of a budget: the statistics settings, at `Budget`'s defaults."""

    confidence: float
    bootstrap_resamples: int
    eval_seed: int


_DEFAULTS = {f.name: f.default for f in fields(Budget)}
JUDGING = _Judging(_DEFAULTS["confidence"], _DEFAULTS["bootstrap_resamples"], _DEFAULTS["eval_seed"])


def arm(record: EvalRecord) -> str:
    """The run's arm from its command: the model type, or `stock-matching-TYPE` for a parameter-matched stock."""
    command = record.details.get("command") or []
    if command[:2] != ["hf-archs", "pretrain"] or "--model-type" not in command:
        raise ValueError(f"pretrain record of {record.model_path} has no `--model-type` in its command: {command}")

    def option(name: str) -> str | None:  # flags (--cpu) take no value, so look each option up by name
        return command[command.index(name) + 1] if name in command else None

    match = option("--match-params")
    return f"{STOCK}-matching-{match}" if match else option("--model-type")


@dataclass(frozen=True)
class ScratchRow:
    """One design arm vs one stock arm of one study, over the seeds both have."""

    design: str
    stock: str
    task: str
    budget: dict
    seeds: list[int]
    design_parameters: int | None
    stock_parameters: int | None
    metrics: list[MetricComparison]


def pretrain_records(results_dir: str | Path) -> list[EvalRecord]:
    """Every `hf-archs pretrain` record under a folder (plain or xz-compressed JSON)."""
    return [EvalRecord.from_dict(data) for _, data in stored_json(results_dir) if is_pretrain_record(data)]


def _parameters(records: list[EvalRecord]) -> int | None:
    counts = {(r.details.get("parameters") or {}).get("total") for r in records}
    return counts.pop() if len(counts) == 1 else None


def scratch_rows(records: list[EvalRecord]) -> list[ScratchRow]:
    """Each design arm vs stock and vs the stock matched to it, per study (same task and budget), paired by seed,
    from pretrain records (`pretrain_records`)."""
    from .harness import aggregate

    studies: dict[str, dict[str, dict[int, EvalRecord]]] = {}
    for record in records:
        key = json.dumps([record.task, record.budget], sort_keys=True)
        seeds = studies.setdefault(key, {}).setdefault(arm(record), {})
        if record.seed in seeds:
            raise ValueError(f"two pretrain records of {arm(record)} seed {record.seed} with budget {record.budget}")
        seeds[record.seed] = record
    rows = []
    for key in sorted(studies):
        task_name, budget = json.loads(key)
        arms = studies[key]
        for design in sorted(a for a in arms if a != STOCK and not a.startswith(f"{STOCK}-matching-")):
            for stock in (STOCK, f"{STOCK}-matching-{design}"):
                if stock not in arms:
                    continue
                seeds = sorted(set(arms[design]) & set(arms[stock]))
                if not seeds:
                    continue
                design_records = [arms[design][s] for s in seeds]
                stock_records = [arms[stock][s] for s in seeds]
                factors = sorted(
                    int(k.removeprefix("loss@").removesuffix("x"))
                    for k in design_records[0].metrics
                    if k.startswith("loss@")
                )
                task = _task(task_name, (1, *factors) if task_name == "pretrain_clm" else (1,))
                rows.append(
                    ScratchRow(
                        design,
                        stock,
                        task_name,
                        budget,
                        seeds,
                        _parameters(design_records),
                        _parameters(stock_records),
                        aggregate(task, JUDGING, design_records, stock_records),
                    )
                )
    return rows


SECTION = "## From scratch (same tokens, same data order, paired over seeds)"


def scratch_markdown(records: list[EvalRecord]) -> list[str]:
    """The leaderboard's from-scratch section (its lines) from pretrain records, or no lines without a pair."""
    from .stats import VERDICT_RULE

    rows = scratch_rows(records)
    if not rows:
        return []
    lines = [
        SECTION,
        "",
        f"`hf-archs pretrain` records. Verdict: {VERDICT_RULE}. ± is the sample standard deviation over seeds; Δ is "
        "design − stock, perplexity from the token-weighted per-window losses (decoders at 1×, 2×, 4×, 8× the "
        "training length), MLM loss for encoders. Parameters: all trained (each side trains every parameter).",
        "",
        "| design | stock | preset | seq len | tokens | seeds | metric | stock | design | Δ [t over seeds] | "
        "Δ [bootstrap over windows] | verdict | params design / stock |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = (
            f" (×{row.design_parameters / row.stock_parameters:.2f})"
            if row.design_parameters and row.stock_parameters
            else ""
        )
        for m in row.metrics:
            boot = interval_text(m.bootstrap) if m.bootstrap is not None else "–"
            lines.append(
                f"| {row.design} | {row.stock} | {row.budget['preset']} | {row.budget['seq_len']} | "
                f"{row.budget['tokens']:,} | {', '.join(map(str, row.seeds))} | "
                f"{m.metric} {'↑' if m.higher_is_better else '↓'} | "
                f"{fmt(m.stock_mean)} ± {fmt(m.stock_std)} | {fmt(m.design_mean)} ± {fmt(m.design_std)} | "
                f"{interval_text(m.t)} | {boot} | {m.verdict} | {parameters_text(row.design_parameters)} / "
                f"{parameters_text(row.stock_parameters)}{ratio} |"
            )
    return lines
