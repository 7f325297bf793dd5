"""One markdown table of every stored result under a results folder."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

from ..errors import UserError
from .records import RECORDS_ARCHIVE, read_json
from .report import fmt, interval_text
from .stats import Interval


def _interval(data: dict) -> Interval:
    return Interval(data["estimate"], data["low"], data["high"], data["confidence"], data["method"])


VALID = "valid"


def run_status(run_dir: Path) -> str:
    """A run's status from its `run.json`: "valid" (the default), "superseded: ..." or "invalid: ..." (a reason)."""
    run_file = run_dir / "run.json"
    status = json.loads(run_file.read_text()).get("status", VALID) if run_file.is_file() else VALID
    if status != VALID and not status.startswith(("superseded: ", "invalid: ")):
        raise ValueError(f"{run_file}: status must be valid, 'superseded: <why>' or 'invalid: <why>'; got {status!r}")
    return status


def trained_parameters(data: dict, role: str) -> int | None:
    """Trained parameters of one side of a comparison (the same for every seed), or None if not recorded."""
    counts = {seed.get("trainable_parameters") for seed in (data.get("training") or {}).get(role, {}).values()}
    if len(counts) != 1 or None in counts:
        return None
    return counts.pop()


def parameters_text(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _capacity(data: dict) -> str:
    design, stock = trained_parameters(data, "design"), trained_parameters(data, "stock")
    ratio = f" (×{design / stock:.1f})" if design and stock else ""
    return f"{parameters_text(design)} / {parameters_text(stock)}{ratio}"


def _commit(data: dict) -> str:
    """The code version the design's records were made with (commit, + if the tree was dirty), or – before it was
    recorded."""
    commits = {
        versions.get("hf_archs_commit")
        for role in ("design", "stock")
        for versions in (data.get("versions") or {}).get(role, {}).values()
    }
    commits.discard(None)
    return ", ".join(sorted(commits)) or "–"


def _settings(data: dict) -> str:
    """How the run's training settings were chosen: by `hf-archs search` on the validation split, or declared (the
    budget's own values)."""
    return "validation search" if data.get("selection") else "declared"


def _metric_rows(data: dict) -> list[str]:
    ratio = (data.get("cost") or {}).get("ratio") or {}
    rows = []
    for m in data["metrics"]:
        item = interval_text(_interval(m["bootstrap"])) if m.get("bootstrap") else "–"
        rows.append(
            f"| {data['name']} | {data['task']} | {data['budget']['name']} | {len(data['seeds'])} | "
            f"{m['metric']} {'↑' if m['higher_is_better'] else '↓'} | {fmt(m['stock_mean'])} ± "
            f"{fmt(m['stock_std'])} | {fmt(m['design_mean'])} ± {fmt(m['design_std'])} | "
            f"{interval_text(_interval(m['t_interval']))} | {item} | {m['verdict']} | {_capacity(data)} | "
            f"{fmt(ratio.get('train_tokens_per_s'), 2)} | {fmt(ratio.get('train_peak_memory_mb'), 2)} | "
            f"{_commit(data)} | {_settings(data)} |"
        )
    return rows


_HEADER = [
    "| name | task | budget | seeds | metric | stock | design | Δ [t over seeds] | Δ [bootstrap over items] | "
    "verdict | trained params design / stock | train tok/s × | mem × | commit | settings |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


_NOT_RECORDS = ("comparison.json", "run.json", "cost.json", RECORDS_ARCHIVE)


def stored_json(results_dir: str | Path) -> list[tuple[Path, object]]:
    """Every readable `*.json` / `*.json.xz` file under a folder that may be a standalone record (not a run's own
    files, nor the per-seed records of a comparison), with its content, in path order."""
    found = []
    for path in sorted([*Path(results_dir).rglob("*.json"), *Path(results_dir).rglob("*.json.xz")]):
        if path.name in _NOT_RECORDS or path.parent.name.startswith("seed_"):
            continue
        try:
            found.append((path, read_json(path)))
        except (json.JSONDecodeError, lzma.LZMAError):
            continue
    return found


def leaderboard_markdown(results_dir: str | Path = "results") -> str:
    """Comparisons (`comparison.json`), from-scratch pretraining (`hf-archs pretrain` records, `scratch.py`) and
    single evaluations (`*.json` records written by `hf-archs eval`).

    Runs whose `run.json` marks them superseded or invalid leave the main table for a list with the reason."""
    from .records import EvalRecord
    from .scratch import is_pretrain_record, scratch_markdown
    from .stats import VERDICT_RULE

    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"No results folder at {results_dir}.")
    comparisons = sorted(results_dir.rglob("comparison.json"))
    lines = [
        "# hf-archs leaderboard",
        "",
        f"Generated by `hf-archs leaderboard --results {results_dir}` from the stored result files; do not edit.",
        "",
        "## Design vs stock (same budget, paired over seeds)",
        "",
        f"Verdict: {VERDICT_RULE}. ± is the sample standard deviation over seeds (ddof 1). Trained parameters: what "
        "each side's fine-tune updated (LoRA and the design's own parameters), with the design / stock ratio. "
        "Settings: `validation search` — each side's training settings chosen on the validation split by "
        "`hf-archs search`, test touched once; `declared` — the budget's values as written. The design learning "
        "rates of the `…-design-lr-…` budget variants were chosen after earlier runs' test results, so those "
        "verdicts carry that selection.",
        "",
        *_HEADER,
    ]
    retired = []
    for path in comparisons:
        data = json.loads(path.read_text())
        status = run_status(path.parent)
        if status == VALID:
            lines += _metric_rows(data)
        else:
            retired.append((data["name"], data["budget"]["name"], status))
    if not comparisons:
        lines.append("| (none) |" + " |" * 13)
    if retired:
        lines += ["", "## Superseded and invalid runs (kept for the record, not results)", ""]
        lines += ["| name | budget | status |", "| --- | --- | --- |"]
        lines += [f"| {name} | {budget} | {status} |" for name, budget, status in retired]

    evals, pretrained = [], []
    for _, data in stored_json(results_dir):
        if is_pretrain_record(data):  # judged in the from-scratch section, not a single evaluation
            pretrained.append(EvalRecord.from_dict(data))
        elif isinstance(data, dict) and {"task", "metrics", "model_path", "record_version"} <= set(data):
            evals.append(data)
    # A wrong folder: an empty table would replace a real leaderboard.
    if not comparisons and not evals and not pretrained:
        raise UserError(
            f"{results_dir} holds no results (comparison.json, `hf-archs pretrain` or `hf-archs eval` records)."
        )
    if scratch := scratch_markdown(pretrained):
        lines += ["", *scratch]
    if evals:
        lines += ["", "## Single evaluations (`hf-archs eval`, no training)", ""]
        lines += ["| model | task | budget | metrics | time |", "| --- | --- | --- | --- | --- |"]
        for data in evals:
            metrics = ", ".join(f"{k} {fmt(v)}" for k, v in data["metrics"].items() if isinstance(v, float))
            lines.append(
                f"| {data['model_path']} | {data['task']} | {data['budget']['name']} | {metrics} | {data['time']} |"
            )
    return "\n".join(lines)


def write_leaderboard(results_dir: str | Path = "results", output: str | Path | None = None) -> str:
    markdown = leaderboard_markdown(results_dir)
    if output is not None:
        output = Path(output)
        partial = output.with_name(f".{output.name}.partial")
        partial.write_text(markdown + "\n")
        partial.replace(output)  # atomic: a failed write never leaves half a leaderboard
    return markdown
