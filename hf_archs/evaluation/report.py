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


def comparison_markdown(comparison, design: str, stock: str) -> str:
    budget = comparison.budget
    level = round(budget.confidence * 100)
    shown = {m.primary.method for m in comparison.metrics}
    lines = [
        f"**{comparison.name}** — task `{comparison.task}`, budget `{budget.name}` ({budget.steps} steps × batch "
        f"{budget.batch_size}, LoRA r={budget.lora_r}, lr {budget.learning_rate:g}, design lr "
        f"{budget.design_learning_rate:g}), seeds {', '.join(map(str, comparison.seeds))}; design `{design}` vs "
        f"stock `{stock}`.",
        "",
        f"| metric | stock (mean ± std) | design (mean ± std) | Δ design − stock [{level}% CI] | "
        f"t-interval over seeds [{level}% CI] | verdict |",
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
        "seeds); t column: Student t over per-seed paired differences. Verdict: the Δ-column interval excludes 0.",
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
    lines += ["", f"Reproduce: `{comparison.command}`"]
    return "\n".join(lines)
