"""The statistics behind every comparison table, against answers computed by hand or by simulation."""

import math

import numpy as np
import pytest

from hf_archs.evaluation.stats import (
    NO_VERDICT,
    Interval,
    compare_metric,
    family_confidence,
    mean_std,
    paired_bootstrap,
    student_t_quantile,
    t_interval,
)


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.7062),
        (0.975, 2, 4.3027),
        (0.975, 4, 2.7764),
        (0.975, 5, 2.5706),
        (0.975, 30, 2.0423),
        (0.95, 10, 1.8125),
        (0.5, 3, 0.0),
        (0.025, 2, -4.3027),
    ],
)
def test_student_t_quantile_matches_tables(p, df, expected):
    assert student_t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_mean_std_is_sample_std():
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(5 / 3)))
    assert mean_std([7.0]) == (7.0, 0.0)


def test_t_interval_by_hand():
    # differences 1, 2, 3: mean 2, sample std 1, t(0.975, df=2) = 4.302653 -> half width 4.302653 / sqrt(3)
    interval = t_interval([1.0, 2.0, 3.0], confidence=0.95)
    half = 4.302653 / math.sqrt(3)
    assert interval.estimate == pytest.approx(2.0)
    assert (interval.low, interval.high) == pytest.approx((2 - half, 2 + half), abs=1e-5)
    assert not interval.significant  # [-0.484, 4.484] contains 0
    tight = t_interval([1.0, 1.1, 0.9, 1.05])
    assert tight.significant and tight.low > 0


def test_t_interval_of_one_seed_is_never_significant():
    interval = t_interval([5.0])
    assert math.isinf(interval.low) and not interval.significant


def test_bootstrap_covers_a_known_difference_and_detects_it():
    rng = np.random.default_rng(1)
    stock = rng.normal(0.0, 1.0, size=(3, 400))
    design = stock + 0.3 + rng.normal(0.0, 0.5, size=stock.shape)  # true paired difference 0.3
    interval = paired_bootstrap(design, stock, resamples=2000, seed=0)
    assert interval.low < 0.3 < interval.high
    assert interval.significant and interval.low > 0
    # Pairing matters: unpaired, the item-to-item spread (std 1) would swamp a difference this size.
    assert interval.high - interval.low < 0.2


def test_bootstrap_coverage_is_near_nominal():
    # 200 simulated comparisons with a true difference of 0.1: the 90% interval should cover it ~90% of the time.
    covered = 0
    for trial in range(200):
        rng = np.random.default_rng(100 + trial)
        stock = rng.normal(size=(1, 60))
        design = stock + 0.1 + rng.normal(0.0, 1.0, size=stock.shape)
        interval = paired_bootstrap(design, stock, resamples=400, confidence=0.9, seed=trial)
        covered += interval.low <= 0.1 <= interval.high
    assert 0.8 <= covered / 200 <= 0.97


def test_bootstrap_with_no_difference_is_not_significant():
    rng = np.random.default_rng(3)
    stock = rng.normal(size=(3, 300))
    design = stock + rng.normal(0.0, 0.5, size=stock.shape)  # noise around the same values: no true difference
    interval = paired_bootstrap(design, stock, resamples=1000)
    assert interval.low < 0 < interval.high and not interval.significant


def test_bootstrap_weights_and_transform_reproduce_the_point_estimate():
    # Perplexity = exp(token-weighted mean loss): the estimate must equal the difference of the two perplexities.
    losses_d, losses_s = np.array([[1.0, 2.0, 3.0]]), np.array([[1.5, 2.0, 2.5]])
    counts = np.array([[1.0, 2.0, 7.0]])
    interval = paired_bootstrap(
        losses_d, losses_s, design_weights=counts, stock_weights=counts, transform=np.exp, resamples=200
    )
    expected = math.exp((1 + 4 + 21) / 10) - math.exp((1.5 + 4 + 17.5) / 10)
    assert interval.estimate == pytest.approx(expected)


def test_bootstrap_keeps_the_seeded_percentile_resampling_of_stored_records():
    # Stored records were judged by a percentile bootstrap whose item indices are drawn by default_rng(seed), one
    # resample after another; the same draws, done by hand, must give the same interval (another method moves it).
    rng = np.random.default_rng(5)
    stock = rng.normal(size=(2, 40))
    design = stock + rng.normal(0.05, 0.5, size=stock.shape)
    index = np.random.default_rng(11).integers(0, 40, size=(1200, 40))
    by_hand = (design[:, index].mean(-1) - stock[:, index].mean(-1)).mean(0)
    interval = paired_bootstrap(design, stock, resamples=1200, confidence=0.9, seed=11)
    assert (interval.low, interval.high) == pytest.approx(tuple(np.quantile(by_hand, [0.05, 0.95])), abs=1e-12)
    assert interval.estimate == pytest.approx((design - stock).mean())


def test_bootstrap_rejects_unpaired_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        paired_bootstrap(np.zeros((2, 5)), np.zeros((2, 6)))


@pytest.mark.parametrize(
    ("higher_is_better", "estimate", "expected"),
    [(True, 0.05, "better"), (True, -0.05, "worse"), (False, -0.05, "better"), (False, 0.05, "worse")],
)
def test_verdict_follows_direction_of_the_metric(higher_is_better, estimate, expected):
    design = [1.0 + estimate + d for d in (0.0, 0.001, -0.001)]
    comparison = compare_metric("m", higher_is_better, design, [1.0, 1.0, 1.0])
    assert comparison.bootstrap is None and comparison.primary is comparison.t  # no items: t over seeds shown
    assert comparison.verdict == expected


def test_verdict_without_significance():
    comparison = compare_metric("m", True, [1.0, 2.0, 3.0], [2.0, 1.0, 2.5])
    assert comparison.verdict == "no significant difference"


def test_table_shows_bootstrap_when_items_exist():
    rng = np.random.default_rng(0)
    items = rng.random((3, 50))
    comparison = compare_metric(
        "mrr", True, list(items.mean(1) + 0.01), list(items.mean(1)), design_items=items + 0.01, stock_items=items
    )
    assert comparison.primary is comparison.bootstrap
    assert comparison.to_dict()["shown_interval"].startswith("paired bootstrap")
    assert isinstance(comparison.t, Interval)


def _seed_shifts(shifts, items=400, seed=0):
    """Per-item values of 3 seeds: stock items, and design items shifted by a per-seed constant (tight bootstrap)."""
    rng = np.random.default_rng(seed)
    stock = rng.random((len(shifts), items))
    design = stock + np.asarray(shifts)[:, None]
    return design, stock


def test_item_bootstrap_alone_gives_no_verdict_when_seeds_disagree():
    # The audit's case: per-seed differences +0.3, -0.3, +0.05. Every item moves with its seed, so the item bootstrap
    # is narrow and excludes 0; the seeds disagree, so the t-interval over seeds does not: no verdict.
    design, stock = _seed_shifts([0.3, -0.3, 0.05])
    comparison = compare_metric(
        "mrr", True, list(design.mean(1)), list(stock.mean(1)), design_items=design, stock_items=stock
    )
    assert comparison.bootstrap.significant and not comparison.t.significant
    assert comparison.verdict == "no significant difference"


def test_verdict_needs_both_intervals_on_the_same_side():
    design, stock = _seed_shifts([0.10, 0.11, 0.12])
    better = compare_metric(
        "mrr", True, list(design.mean(1)), list(stock.mean(1)), design_items=design, stock_items=stock
    )
    assert better.t.significant and better.bootstrap.significant and better.verdict == "better"
    lower = compare_metric(
        "loss", False, list(design.mean(1)), list(stock.mean(1)), design_items=design, stock_items=stock
    )
    assert lower.verdict == "worse"


def test_no_verdict_below_three_seeds():
    comparison = compare_metric("m", True, [2.0, 2.1], [1.0, 1.0])
    assert comparison.t.significant  # the interval alone would call it
    assert comparison.verdict == NO_VERDICT


def test_family_confidence_is_bonferroni():
    assert family_confidence(0.95, 1) == pytest.approx(0.95)
    assert family_confidence(0.95, 3) == pytest.approx(1 - 0.05 / 3)
    with pytest.raises(ValueError):
        family_confidence(0.95, 0)
