"""The card's retrieval tables are rebuilt from the stored records: the oscillating-vs-causal rows must reproduce the
harness's own comparison of the same runs. The runs are tiny records made here, stored as the repository keeps
them (one `records.json.xz` per run, no per-seed files)."""

import json
import shutil

import numpy as np

from benchmarks.oscillating.encoders import RUNS, retrieval_tables
from hf_archs.evaluation import BUDGETS, get_task
from hf_archs.evaluation.harness import aggregate
from hf_archs.evaluation.records import EvalRecord, pack_records, record_name
from hf_archs.evaluation.report import fmt, interval_text


# The runs are looked up by budget name; the rest is the ci budget's, with enough items for a bootstrap.
BUDGET = BUDGETS["ci"].with_overrides(name="gemma3-cpu", eval_size=20, seeds=(0, 1, 2), bootstrap_resamples=200)


def _records(rng, role: str, shift: float) -> list[EvalRecord]:
    records = []
    for seed in BUDGET.seeds:
        ranks = rng.integers(1, 30, size=BUDGET.eval_size) - (rng.random(BUDGET.eval_size) < shift)
        ranks = np.maximum(ranks, 1)
        items = {"mrr": 1 / ranks, "recall@1": (ranks <= 1) * 1.0, "recall@10": (ranks <= 10) * 1.0}
        records.append(
            EvalRecord(
                task="retrieval",
                model_path=f"outputs/{role}",
                config_hash="toy",
                seed=seed,
                budget=BUDGET.to_dict(),
                metrics={metric: float(values.mean()) for metric, values in items.items()},
                items={metric: values.tolist() for metric, values in items.items()},
                role=role,
            )
        )
    return records


def _store_run(results, name: str, stock: list[EvalRecord], design: list[EvalRecord]):
    run_dir = results / name / "retrieval-gemma3-cpu-toy"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"name": name, "budget": BUDGET.to_dict()}))
    for role, records in (("stock", stock), ("design", design)):
        for record in records:
            record.save(run_dir / record_name(record.seed, role))
    pack_records(run_dir)
    for seed in BUDGET.seeds:
        shutil.rmtree(run_dir / f"seed_{seed}")  # what a checkout holds: the archive only


def test_tables_reproduce_the_harness_comparison(tmp_path):
    rng = np.random.default_rng(0)
    oscillating_name, bidirectional_name = RUNS["gemma3-cpu"]
    stock = _records(rng, "stock", 0.0)
    oscillating, bidirectional = _records(rng, "design", 0.5), _records(rng, "design", 0.2)
    _store_run(tmp_path, oscillating_name, stock, oscillating)
    _store_run(tmp_path, bidirectional_name, stock, bidirectional)

    text = retrieval_tables(tmp_path)
    for metric in aggregate(get_task("retrieval"), BUDGET, oscillating, stock):
        assert f"{fmt(metric.stock_mean)} ± {fmt(metric.stock_std)}" in text
        assert f"{fmt(metric.design_mean)} ± {fmt(metric.design_std)}" in text
        row = f"| oscillating − causal (stock) | 0, 1, 2 | {metric.metric} | "
        assert row in text and interval_text(metric.bootstrap) in text.split(row, 1)[1].split("\n", 1)[0]
