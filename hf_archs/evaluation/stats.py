"""Statistics of a paired comparison: mean ± std over seeds, a t-interval over seeds, a paired bootstrap over
held-out items, and the verdict.

The verdict rule (`VERDICT_RULE`) respects both sources of variance: a difference counts only when the t-interval
over per-seed differences (seed-to-seed variance: each seed trains its own pair of models) and, where per-item values
exist, the paired bootstrap over held-out items (evaluation-sample variance) both exclude 0 on the same side, from at
least `MIN_SEEDS` seeds. The metrics of one comparison are judged together under a Bonferroni correction: each
metric's intervals are at confidence 1 − (1 − c)/m for m metrics (`family_confidence`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats


MIN_SEEDS = 3
NO_VERDICT = f"n < {MIN_SEEDS}: no verdict"
VERDICT_RULE = (
    f"better/worse only when, from >= {MIN_SEEDS} seeds, the t-interval over per-seed paired differences and the "
    "paired bootstrap over held-out items (where per-item values exist) both exclude 0 on the same side; the m "
    "metrics of a comparison are judged together (Bonferroni: each interval at confidence 1 - (1 - c)/m)"
)


def family_confidence(confidence: float, metrics: int) -> float:
    """Per-metric confidence that keeps the family-wise level `confidence` over `metrics` metrics (Bonferroni)."""
    if metrics < 1:
        raise ValueError(f"family_confidence needs at least one metric, got {metrics}")
    return 1 - (1 - confidence) / metrics


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("mean_std of no values")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with `df` degrees of freedom (SciPy)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return float(scipy_stats.t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    confidence: float
    method: str

    @property
    def significant(self) -> bool:
        """The interval excludes zero (two-sided test at level 1 - confidence)."""
        return self.low > 0 or self.high < 0

    @property
    def side(self) -> int:
        """+1 if the interval lies above 0, -1 if below, 0 if it contains 0."""
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def t_interval(differences: Sequence[float], confidence: float = 0.95) -> Interval:
    """Two-sided t confidence interval for the mean of paired per-seed differences (design - stock).

    With one seed the interval is infinite (no variance estimate): never significant.
    """
    diffs = np.asarray(differences, dtype=float)
    mean, std = mean_std(diffs)
    n = diffs.size
    if n < 2:
        return Interval(mean, -math.inf, math.inf, confidence, "t-interval over seeds")
    half = student_t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, confidence, f"t-interval over {n} seeds")


def weighted_mean(values: np.ndarray, weights: np.ndarray | None, axis: int = -1) -> np.ndarray:
    if weights is None:
        return values.mean(axis=axis)
    return (values * weights).sum(axis=axis) / weights.sum(axis=axis)


def paired_bootstrap(
    design: np.ndarray,
    stock: np.ndarray,
    *,
    design_weights: np.ndarray | None = None,
    stock_weights: np.ndarray | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of (design - stock), resampling held-out items with the same indices for both
    (`scipy.stats.bootstrap(paired=True)`).

    `design` and `stock` are per-item values of shape (seeds, items) (or (items,)); the metric of a run is the
    (weighted) mean over its items, optionally transformed (e.g. `np.exp` for perplexity from per-item loss). The
    statistic is the mean over seeds of the per-seed metric difference; each resample draws item indices once and
    applies them to every seed of both models, so the pairing of items (and seeds) is kept. `seed` seeds the
    `np.random.default_rng` that draws the indices, resample after resample (the same draws as before SciPy did the
    resampling, so stored intervals reproduce).
    """
    design, stock = np.atleast_2d(np.asarray(design, float)), np.atleast_2d(np.asarray(stock, float))
    if design.shape != stock.shape:
        raise ValueError(f"paired_bootstrap needs equal shapes, got {design.shape} and {stock.shape}")
    samples = {"design": design, "stock": stock}
    if design_weights is not None:
        samples["design_weights"] = np.atleast_2d(np.asarray(design_weights, float))
    if stock_weights is not None:
        samples["stock_weights"] = np.atleast_2d(np.asarray(stock_weights, float))
    transform = transform or (lambda x: x)

    def statistic(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        # arrays: (seeds, [resamples,] items) in the order of `samples` -> the mean over seeds, (resamples,) or ()
        given = dict(zip(samples, arrays, strict=True))
        d = transform(weighted_mean(given["design"], given.get("design_weights"), axis=axis))
        s = transform(weighted_mean(given["stock"], given.get("stock_weights"), axis=axis))
        return (d - s).mean(axis=0)

    result = scipy_stats.bootstrap(
        tuple(samples.values()),
        statistic,
        n_resamples=resamples,
        batch=500,  # bounds the memory of (seeds, batch, items)
        vectorized=True,
        paired=True,
        axis=-1,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    n_items = design.shape[1]
    return Interval(
        float(statistic(*samples.values())),
        float(low),
        float(high),
        confidence,
        f"paired bootstrap over {n_items} items",
    )


@dataclass(frozen=True)
class MetricComparison:
    """One metric of a design vs stock comparison over seeds."""

    metric: str
    higher_is_better: bool
    design_values: list[float]
    stock_values: list[float]
    design_mean: float
    design_std: float
    stock_mean: float
    stock_std: float
    t: Interval
    bootstrap: Interval | None

    @property
    def primary(self) -> Interval:
        """The item-level interval the tables show beside the t-interval: the paired bootstrap where per-item values
        exist, else the t-interval."""
        return self.bootstrap if self.bootstrap is not None else self.t

    @property
    def intervals(self) -> list[Interval]:
        """The intervals the verdict needs to agree: the t-interval over seeds, and the item bootstrap if any."""
        return [self.t] + ([self.bootstrap] if self.bootstrap is not None else [])

    @property
    def verdict(self) -> str:
        """'better' / 'worse' (for the design) or 'no significant difference' under `VERDICT_RULE`; `NO_VERDICT`
        below `MIN_SEEDS` seeds."""
        if len(self.design_values) < MIN_SEEDS:
            return NO_VERDICT
        sides = {interval.side for interval in self.intervals}
        if len(sides) != 1 or 0 in sides:
            return "no significant difference"
        (side,) = sides
        return "better" if (side > 0) == self.higher_is_better else "worse"

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "design_values": self.design_values,
            "stock_values": self.stock_values,
            "design_mean": self.design_mean,
            "design_std": self.design_std,
            "stock_mean": self.stock_mean,
            "stock_std": self.stock_std,
            "t_interval": self.t.to_dict(),
            "bootstrap": self.bootstrap.to_dict() if self.bootstrap else None,
            "shown_interval": self.primary.method,
            "verdict": self.verdict,
            "verdict_rule": VERDICT_RULE,
        }


def compare_metric(
    metric: str,
    higher_is_better: bool,
    design_values: Sequence[float],
    stock_values: Sequence[float],
    *,
    design_items: np.ndarray | None = None,
    stock_items: np.ndarray | None = None,
    design_weights: np.ndarray | None = None,
    stock_weights: np.ndarray | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> MetricComparison:
    if len(design_values) != len(stock_values):
        raise ValueError("design and stock need one value per seed each, for the same seeds")
    dm, ds = mean_std(design_values)
    sm, ss = mean_std(stock_values)
    diffs = [d - s for d, s in zip(design_values, stock_values, strict=True)]
    boot = None
    if design_items is not None and stock_items is not None:
        boot = paired_bootstrap(
            design_items,
            stock_items,
            design_weights=design_weights,
            stock_weights=stock_weights,
            transform=transform,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
    return MetricComparison(
        metric,
        higher_is_better,
        [float(v) for v in design_values],
        [float(v) for v in stock_values],
        dm,
        ds,
        sm,
        ss,
        t_interval(diffs, confidence),
        boot,
    )
