"""`search`: choose training settings on the validation split by a declared grid, then compare once on test.

1. Every candidate of the grid (the product of the declared values, applied to the base budget) trains and evaluates
   the design for each seed of the budget on the validation split (`Budget.eval_split`), with the harness's own
   `_train_and_evaluate`, so a candidate trains exactly as a comparison does. Stock gets the same procedure over the
   grid fields that change its training: `design_learning_rate` is left out, since stock has no design parameters
   (`training.lora.optimizer_parameter_groups`) and would train identically for every value.
2. Each side takes its candidate with the best mean over seeds of the task's primary metric (`SELECTION_RULE`).
3. `compare` runs once on the test split with the chosen budgets (design and stock may differ in what was searched).

Files (`<out>/<name>/search-<task>-<budget>-<key>/`): `search.json` (grid, every candidate's per-seed validation
metrics, the choice per side, the rule, versions and commit) and `<candidate>/seed_<s>/<role>.json` (one EvalRecord
per candidate, seed and role, reused on a rerun, as compare reuses seeds). The final comparison is written beside
it, as `compare` writes it, with the choice under `selection` in its run.json and comparison.json. Single process.
"""

from __future__ import annotations

import itertools
import math
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .budgets import DESIGN_ONLY_FIELDS, Budget, get_budget
from .harness import (
    Comparison,
    _load_record,
    _progress,
    _train_and_evaluate,
    budget_arguments,
    check_pair,
    compare,
    run_key,
)
from .records import EvalRecord, code_commit, library_versions, now_utc, run_records, write_json
from .tasks import Task, get_task


# Budget fields a grid may search, with their type. Fields of the evaluation (eval_size, seq_len, ...) are not
# among them: a candidate scored on other items or lengths would not be comparable with the others.
SEARCH_FIELDS = {
    "learning_rate": float,
    "design_learning_rate": float,
    "lora_r": int,
    "lora_alpha": int,
    "steps": int,
    "batch_size": int,
    "mntp_steps": int,
    "mntp_probability": float,
}
SELECTION_RULE = (
    "per side, the candidate with the best mean over seeds of the primary metric on the validation split (higher or "
    "lower as the metric says); a candidate whose mean is not finite is never chosen; ties go to the candidate that "
    "comes first in grid order (fields as declared, values as listed)"
)


def parse_grid(specs: list[str]) -> dict[str, tuple]:
    """`["FIELD=v1,v2", ...]` (the CLI's `--grid`) -> {field: values}, in the order given; bad specs refused."""
    grid = {}
    for spec in specs:
        field, sep, text = spec.partition("=")
        field = field.strip()
        if not sep:
            raise UserError(f"--grid {spec!r}: expected FIELD=VALUE,VALUE,... (e.g. learning_rate=5e-4,1e-3).")
        if field in grid:
            raise UserError(f"--grid {field} is given twice; list all its values once.")
        if field not in SEARCH_FIELDS:
            raise UserError(f"--grid {field}: not a searchable budget field; searchable: {', '.join(SEARCH_FIELDS)}.")
        values = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                raise UserError(f"--grid {spec!r}: empty value; list the values separated by commas.")
            try:
                values.append(SEARCH_FIELDS[field](item))
            except ValueError:
                kind = "an integer" if SEARCH_FIELDS[field] is int else "a number"
                raise UserError(f"--grid {field}: {item!r} is not {kind}.") from None
        grid[field] = tuple(values)
    return grid


def check_grid(grid: dict[str, tuple], budget: Budget) -> dict[str, tuple]:
    """Refuse a grid that searches nothing or a field that changes nothing; the grid, its values as tuples."""
    if not grid:
        raise UserError("The search grid is empty; declare at least one field, e.g. learning_rate=5e-4,1e-3.")
    grid = {field: tuple(values) for field, values in grid.items()}
    for field, values in grid.items():
        if field not in SEARCH_FIELDS:
            raise UserError(f"Grid field {field!r} is not searchable; searchable: {', '.join(SEARCH_FIELDS)}.")
        if len(values) < 2 or len(set(values)) != len(values):
            raise UserError(
                f"Grid field {field} needs at least two distinct values, got {list(values)} (one value changes "
                "nothing to choose: set it in the budget)."
            )
    if "mntp_probability" in grid and budget.mntp_steps == 0 and 0 in grid.get("mntp_steps", (0,)):
        raise UserError(
            "Grid field mntp_probability changes nothing while mntp_steps is 0 (no masking stage runs); search it "
            "with mntp_steps > 0."
        )
    return grid


def candidates(budget: Budget, grid: dict[str, tuple], role: str) -> list[tuple[dict, Budget]]:
    """(settings, validation budget) of every candidate of `role`, in grid order (the product of the values)."""
    searched = [field for field in grid if role == "design" or field not in DESIGN_ONLY_FIELDS]
    out = []
    for values in itertools.product(*(grid[field] for field in searched)):
        settings = dict(zip(searched, values, strict=True))
        out.append((settings, budget.with_overrides(**settings, eval_split="validation")))
    return out


def label(settings: dict) -> str:
    """A candidate's folder name: `learning_rate=0.0005,lora_r=8` (`base` when nothing is searched for a side)."""
    return ",".join(f"{field}={value:g}" for field, value in settings.items()) or "base"


def _record_path(search_dir: Path, role: str, settings: dict, seed: int) -> Path:
    # seed_<s>/<role>.json as in a comparison folder: the leaderboard does not take these records for results.
    return search_dir / label(settings) / f"seed_{seed}" / f"{role}.json"


def choose(means: list[float], higher_is_better: bool) -> int:
    """Index of the best finite mean (the first one on a tie, as `max` returns); `SELECTION_RULE`."""
    finite = [i for i, mean in enumerate(means) if math.isfinite(mean)]
    if not finite:
        raise UserError(f"No candidate gave a finite validation metric (means {means}); widen or lower the grid.")
    return max(finite, key=lambda i: means[i] if higher_is_better else -means[i])


def search_command(design, stock, task: Task, budget: Budget, grid: dict, out, name, seeds) -> str:
    parts = ["hf-archs", "search", "--design", str(design), "--stock", str(stock), "--task", task.name]
    parts += budget_arguments(budget, "search.json")
    for field, values in grid.items():
        parts += ["--grid", f"{field}={','.join(f'{v:g}' for v in values)}"]
    parts += ["--out", str(out), "--name", name, "--seeds", ",".join(str(s) for s in seeds)]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass
class SearchResult:
    search_dir: Path
    data: dict  # what search.json holds
    comparison: Comparison | None  # the final test-split comparison (None when `final` is False)


def search(
    design: str | Path,
    stock: str | Path,
    task: str | Task,
    budget: str | Budget,
    grid: dict[str, tuple],
    *,
    out: str | Path = "results",
    name: str | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    metric: str | None = None,
    device: str | None = None,
    progress: bool = True,
    keep_models: bool = False,
    trust_remote_code: bool = False,
    plot: bool = True,
    final: bool = True,
) -> SearchResult:
    """Search `grid` on the validation split for design and stock, then compare the chosen budgets once on test.

    `metric` is the one choices are made by (default: the task's primary metric, its first); `final=False` stops
    after the search (search.json written, the test split untouched).
    """
    task, budget = (get_task(task) if isinstance(task, str) else task), get_budget(budget)
    if budget.eval_split != "test":
        raise UserError(
            f"The base budget evaluates on {budget.eval_split}; give a test budget: the search evaluates its "
            "candidates on validation itself and the final comparison on test."
        )
    grid = check_grid(grid, budget)
    validation = budget.with_overrides(eval_split="validation")
    design, stock = str(design), str(stock)
    seeds = list(seeds if seeds is not None else budget.seeds)
    check_pair(task, validation, design, stock, seeds)
    directions = task.metric_directions(validation)
    metric = metric or next(iter(directions))
    if metric not in directions:
        raise UserError(f"Task {task.name!r} has no metric {metric!r}; its metrics: {', '.join(directions)}.")
    name = name or f"{Path(design).name}-vs-{Path(stock).name}"
    search_dir = Path(out) / name / f"search-{task.name}-{budget.name}-{run_key(task, validation, design, stock)}"
    search_dir.mkdir(parents=True, exist_ok=True)

    plan = {role: candidates(budget, grid, role) for role in ("design", "stock")}
    paths = {"design": design, "stock": stock}
    runs = [
        (role, settings, candidate, seed, _record_path(search_dir, role, settings, seed))
        for role in ("stock", "design")
        for settings, candidate in plan[role]
        for seed in seeds
    ]
    todo = [  # finished candidates are reused
        (role, settings, candidate, seed, path)
        for role, settings, candidate, seed, path in runs
        if _load_record(run_records(search_dir / label(settings)), seed, role, candidate) is None
    ]
    for role, settings, candidate, seed, record_path in _progress(
        todo, progress, desc=f"search {task.name} ({budget.name}, validation)", unit="run"
    ):
        work_dir = search_dir / "work" / label(settings) / f"seed_{seed}" / role
        record = _train_and_evaluate(task, role, paths[role], candidate, seed, work_dir, device, trust_remote_code)
        record.details["search"] = {"settings": settings}
        record.save(record_path)
        if not keep_models:
            shutil.rmtree(work_dir, ignore_errors=True)

    sides = {}
    for role in ("design", "stock"):
        rows = []
        for settings, candidate in plan[role]:
            records = [EvalRecord.load(_record_path(search_dir, role, settings, s)) for s in seeds]
            rows.append(
                {
                    "settings": settings,
                    "budget_fingerprint": candidate.fingerprint(),
                    "metrics": {str(r.seed): r.metrics for r in records},
                    "mean": float(np.mean([r.metrics[metric] for r in records])),
                    "trainable_parameters": records[0].training.get("trainable_parameters"),
                }
            )
        best = choose([row["mean"] for row in rows], directions[metric])
        sides[role] = {"candidates": rows, "chosen": best, "chosen_settings": rows[best]["settings"]}
    data = {
        "name": name,
        "task": task.name,
        "design": design,
        "stock": stock,
        "budget": budget.to_dict(),
        "seeds": seeds,
        "grid": {field: list(values) for field, values in grid.items()},
        "stock_grid": [field for field in grid if field not in DESIGN_ONLY_FIELDS],
        "metric": metric,
        "higher_is_better": directions[metric],
        "eval_split": "validation",
        "rule": SELECTION_RULE,
        "design_search": sides["design"],
        "stock_search": sides["stock"],
        "command": search_command(design, stock, task, budget, grid, out, name, seeds),
        "commit": code_commit(),
        "versions": library_versions(),
        "time": now_utc(),
    }
    # Written before the test run, so the choice is on disk whatever happens to it.
    write_json(search_dir / "search.json", data)
    if not final:
        return SearchResult(search_dir, data, None)
    comparison = compare(
        design,
        stock,
        task,
        budget.with_overrides(**sides["design"]["chosen_settings"]),
        stock_budget=budget.with_overrides(**sides["stock"]["chosen_settings"]),
        out=out,
        name=name,
        seeds=seeds,
        device=device,
        progress=progress,
        keep_models=keep_models,
        trust_remote_code=trust_remote_code,
        plot=plot,
        selection={
            "search": str(search_dir / "search.json"),
            "rule": SELECTION_RULE,
            "metric": metric,
            "design": sides["design"]["chosen_settings"],
            "stock": sides["stock"]["chosen_settings"],
        },
    )
    data["comparison"] = str(comparison.run_dir)
    write_json(search_dir / "search.json", data)
    return SearchResult(search_dir, data, comparison)


def search_markdown(result: SearchResult) -> str:
    """The validation table of a search: one row per candidate and side, the chosen ones marked."""
    data = result.data
    arrow = "↑" if data["higher_is_better"] else "↓"
    lines = [
        f"Validation search ({data['metric']} {arrow}, mean over seeds {', '.join(map(str, data['seeds']))}):",
        "",
        "| side | candidate | mean | chosen |",
        "| --- | --- | --- | --- |",
    ]
    for role in ("design", "stock"):
        side = data[f"{role}_search"]
        for i, row in enumerate(side["candidates"]):
            chosen = "✓" if i == side["chosen"] else ""
            lines.append(f"| {role} | {label(row['settings'])} | {row['mean']:.4f} | {chosen} |")
    lines += ["", f"Rule: {data['rule']}.", f"Reproduce: `{data['command']}`"]
    return "\n".join(lines)
