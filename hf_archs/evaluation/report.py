"""Markdown of a comparison (the text model cards include between result markers)."""

from __future__ import annotations

import math


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}f}"


def interval_text(interval, digits: int = 4) -> str:
    return f"{interval.estimate:+.{digits}f} [{fmt(interval.low, digits)}, {fmt(interval.high, digits)}]"


def confidence_note(budget, metrics: int) -> str:
    """How confident each interval of a table is: the family-wise level over its metrics, Bonferroni-corrected."""
    from .stats import family_confidence

    if metrics == 0:  # a table of cost only: no interval to qualify
        return "no metric judged"
    each = family_confidence(budget.confidence, metrics)
    return (
        f"each interval at {each:.2%} confidence ({budget.confidence:.0%} family-wise over the {metrics} metrics, "
        "Bonferroni)"
    )


def comparison_markdown(comparison, design: str, stock: str) -> str:
    from .stats import VERDICT_RULE

    budget = comparison.budget
    shown = {m.primary.method for m in comparison.metrics}
    split = "" if budget.eval_split == "test" else f", evaluated on the {budget.eval_split} split"
    targets = "" if budget.lora_target_modules == "default" else f" on {budget.lora_target_modules}"
    lines = [
        f"**{comparison.name}** — task `{comparison.task}`, budget `{budget.name}` ({budget.steps} steps × batch "
        f"{budget.batch_size}, LoRA r={budget.lora_r}{targets}, lr {budget.learning_rate:g}, design lr "
        f"{budget.design_learning_rate:g}{split}), seeds {', '.join(map(str, comparison.seeds))}; design `{design}` "
        f"vs stock `{stock}`{_stock_settings(comparison)}.",
        "",
        "| metric | stock (mean ± std) | design (mean ± std) | Δ design − stock [CI] | t-interval over seeds [CI] | "
        "verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in comparison.metrics:
        arrow = "↑" if m.higher_is_better else "↓"
        lines.append(
            f"| {m.metric} {arrow} | {fmt(m.stock_mean)} ± {fmt(m.stock_std)} | {fmt(m.design_mean)} ± "
            f"{fmt(m.design_std)} | {interval_text(m.primary)} | {interval_text(m.t)} | {m.verdict} |"
        )
    lines += [
        "",
        f"Δ column: {'; '.join(sorted(shown))} (percentile, paired: the same item indices for both models and all "
        f"seeds); t column: Student t over per-seed paired differences; "
        f"{confidence_note(budget, len(comparison.metrics))}; ± is the sample std over seeds (ddof 1). "
        f"Verdict: {VERDICT_RULE}.",
    ]
    cost = comparison.cost
    if cost and cost.get("ratio"):
        ratio = cost["ratio"]
        lines.append(
            f"Cost (design / stock, same process, {cost.get('device')}, batch {cost.get('batch')}): training "
            f"tokens/s × {fmt(ratio.get('train_tokens_per_s'), 2)}, inference tokens/s × "
            f"{fmt(ratio.get('infer_tokens_per_s'), 2)}, peak memory ({cost.get('memory_kind')}) training × "
            f"{fmt(ratio.get('train_peak_memory_mb'), 2)}, inference × {fmt(ratio.get('infer_peak_memory_mb'), 2)}."
        )
    if budget.name == "ci":
        lines.append(
            "Budget `ci` only exercises the code paths (a few steps, a tiny evaluation, one cost repeat): every "
            "number above, cost ratios included, is noise, not a measurement."
        )
    lines += ["", f"Reproduce: `{comparison.command}`"]
    return "\n".join(lines)


def _stock_settings(comparison) -> str:
    """Stock's own training settings where they differ from the design's (each side's choice of a search); fields
    that do not change stock's training (the design learning rate) are left out."""
    from .budgets import DESIGN_ONLY_FIELDS

    stock_budget = getattr(comparison, "stock_budget", None) or comparison.budget
    differences = comparison.budget.differences(stock_budget)
    differences = {key: value for key, value in differences.items() if key not in DESIGN_ONLY_FIELDS}
    if not differences:
        return ""
    pairs = ", ".join(f"{key} {value[1]:g}" if isinstance(value[1], float) else f"{key} {value[1]}"
                      for key, value in differences.items())  # fmt: skip
    return f" (stock trained with {pairs})"


def load_role_records(run_dir, role: str) -> dict:
    """seed -> `EvalRecord` of one role ("stock", "design" or "model") of a stored run folder (its archive and any
    per-seed files: `records.run_records`)."""
    from .records import run_records

    records = {}
    for name, record in sorted(run_records(run_dir).items()):
        if name.endswith(f"/{role}.json"):
            records[record.seed] = record
    return records


def models_markdown(task, budget, rows: dict, pairs: list[tuple[str, str]], notes: dict | None = None) -> str:
    """One table of several models on one task (mean ± std over their seeds) and one of paired differences.

    rows: label -> {seed: EvalRecord}. pairs: (a, b) labels whose difference a − b is shown over the seeds both
    have, with the paired bootstrap over held-out items (the same items for every model) and the t-interval over
    seeds; a pair with fewer than 2 common seeds is listed without intervals. notes: label -> a remark for its row.
    """
    from .stats import VERDICT_RULE, compare_metric, family_confidence, mean_std

    notes = notes or {}
    metrics = task.metric_directions(budget)
    arrows = {m: "↑" if higher else "↓" for m, higher in metrics.items()}
    lines = [
        "| model | seeds | " + " | ".join(f"{m} {arrows[m]} (mean ± std)" for m in metrics) + " | note |",
        "| --- | --- | " + " | ".join("---" for _ in metrics) + " | --- |",
    ]
    for label, records in rows.items():
        values = [records[s] for s in sorted(records)]
        cells = []
        for metric in metrics:
            mean, std = mean_std([r.metrics[metric] for r in values]) if values else (None, None)
            std = std if len(values) > 1 else None  # one seed has no spread
            cells.append(f"{fmt(mean)} ± {fmt(std)}")
        seeds = ", ".join(str(s) for s in sorted(records)) or "none"
        lines.append(f"| {label} | {seeds} | " + " | ".join(cells) + f" | {notes.get(label, '')} |")
    lines += [
        "",
        "| paired difference | seeds | metric | Δ mean | Δ [CI, bootstrap over items] | t-interval over seeds [CI] | "
        "verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a, b in pairs:
        seeds = sorted(set(rows[a]) & set(rows[b]))
        for metric, higher in metrics.items():
            first, second = [rows[a][s] for s in seeds], [rows[b][s] for s in seeds]
            if len(seeds) < 2:
                delta = (first[0].metrics[metric] - second[0].metrics[metric]) if seeds else None
                lines.append(
                    f"| {a} − {b} | {', '.join(map(str, seeds)) or 'none'} | {metric} | {fmt(delta)} | – | – | – |"
                )
                continue
            result = compare_metric(
                metric,
                higher,
                [r.metrics[metric] for r in first],
                [r.metrics[metric] for r in second],
                design_items=[r.items[metric] for r in first],
                stock_items=[r.items[metric] for r in second],
                confidence=family_confidence(budget.confidence, len(metrics)),
                resamples=budget.bootstrap_resamples,
                seed=budget.eval_seed,
            )
            lines.append(
                f"| {a} − {b} | {', '.join(map(str, seeds))} | {metric} | "
                f"{fmt(result.design_mean - result.stock_mean)} | {interval_text(result.primary)} | "
                f"{interval_text(result.t)} | {result.verdict} |"
            )
    lines += ["", f"Intervals: {confidence_note(budget, len(metrics))}. Verdict: {VERDICT_RULE}."]
    return "\n".join(lines)
