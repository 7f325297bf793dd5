"""`models_markdown`: several models' rows and their paired differences, the same numbers as `compare_metric`."""

import numpy as np

from hf_archs.evaluation import BUDGETS, get_task
from hf_archs.evaluation.records import EvalRecord
from hf_archs.evaluation.report import fmt, interval_text, models_markdown
from hf_archs.evaluation.stats import compare_metric, family_confidence


def _records(shift: float, seeds) -> dict:
    rng = np.random.default_rng(int(shift * 100))
    out = {}
    for seed in seeds:
        ranks = rng.integers(1, 20, size=24)
        items = {"mrr": list(1.0 / ranks + shift), "recall@1": list((ranks <= 1) * 1.0)}
        items["recall@10"] = list((ranks <= 10) * 1.0)
        metrics = {k: float(np.mean(v)) for k, v in items.items()}
        out[seed] = EvalRecord("retrieval", "m", "h", seed, {}, metrics, items)
    return out


def test_models_markdown_rows_and_paired_differences():
    task, budget = get_task("retrieval"), BUDGETS["ci"]
    rows = {"a": _records(0.1, [0, 1, 2]), "b": _records(0.0, [0, 1, 2]), "c": _records(0.2, [1]), "d": {}}
    text = models_markdown(task, budget, rows, [("a", "b"), ("c", "b"), ("d", "b")], {"c": "one seed"})
    a_mrr = [rows["a"][s].metrics["mrr"] for s in (0, 1, 2)]
    assert f"| a | 0, 1, 2 | {fmt(float(np.mean(a_mrr)))} ± {fmt(float(np.std(a_mrr, ddof=1)))} |" in text
    assert "| c | 1 | " in text and " ± – " in text and "| one seed |" in text and "| d | none |" in text
    expected = compare_metric(
        "mrr",
        True,
        a_mrr,
        [rows["b"][s].metrics["mrr"] for s in (0, 1, 2)],
        design_items=[rows["a"][s].items["mrr"] for s in (0, 1, 2)],
        stock_items=[rows["b"][s].items["mrr"] for s in (0, 1, 2)],
        # The three metrics are judged together: each interval at the Bonferroni-corrected confidence.
        confidence=family_confidence(budget.confidence, len(task.metric_directions(budget))),
        resamples=budget.bootstrap_resamples,
        seed=budget.eval_seed,
    )
    assert f"| a − b | 0, 1, 2 | mrr | {fmt(expected.design_mean - expected.stock_mean)} | " in text
    assert interval_text(expected.primary) in text and interval_text(expected.t) in text
    # One common seed: the difference without intervals; none: dashes.
    c_minus_b = rows["c"][1].metrics["mrr"] - rows["b"][1].metrics["mrr"]
    assert f"| c − b | 1 | mrr | {fmt(c_minus_b)} | – | – | – |" in text
    assert "| d − b | none | mrr | – | – | – | – |" in text
