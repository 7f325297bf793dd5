"""The card's retrieval tables are rebuilt from the stored records: the oscillating-vs-causal rows must reproduce the
harness's own comparison of the same runs."""

import json
from pathlib import Path

from benchmarks.oscillating.encoders import retrieval_tables
from hf_archs.evaluation.report import fmt, interval_text
from hf_archs.evaluation.stats import Interval


RESULTS = Path(__file__).resolve().parents[3] / "results"


def test_tables_reproduce_the_stored_comparison():
    (comparison,) = RESULTS.glob("gemma-3-270m-oscillating-encoder/retrieval-gemma3-cpu-*/comparison.json")
    data = json.loads(comparison.read_text())
    text = retrieval_tables(RESULTS)
    for metric in data["metrics"]:
        assert f"{fmt(metric['stock_mean'])} ± {fmt(metric['stock_std'])}" in text
        assert f"{fmt(metric['design_mean'])} ± {fmt(metric['design_std'])}" in text
        boot = Interval(**{k: metric["bootstrap"][k] for k in ("estimate", "low", "high", "confidence", "method")})
        row = f"| oscillating − causal (stock) | 0, 1, 2 | {metric['metric']} | "
        assert row in text and interval_text(boot) in text.split(row, 1)[1].split("\n", 1)[0]
