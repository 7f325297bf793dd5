"""The comparison figure: metric per seed with means and intervals, training-loss curves, metric vs length."""

from __future__ import annotations

from pathlib import Path


COLORS = {"stock": "tab:gray", "design": "tab:blue"}


def plot_comparison(path: str | Path, comparison, records: dict, task) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metrics = comparison.metrics
    per_length = task.metrics_fn is not None  # length buckets: one panel, metric vs length
    has_curves = any(r.training.get("loss_curve") for role in records for r in records[role])
    panels = (1 if per_length else len(metrics)) + (1 if has_curves else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), squeeze=False)
    axes = list(axes[0])

    if per_length:
        ax = axes.pop(0)
        factors = comparison.budget.extrapolation_factors
        lengths = [f * comparison.budget.seq_len for f in factors]
        for role in ("stock", "design"):
            for r in records[role]:
                ax.plot(lengths, [r.metrics[m.metric] for m in metrics], color=COLORS[role], alpha=0.3, lw=1)
            means = [m.stock_mean if role == "stock" else m.design_mean for m in metrics]
            ax.plot(lengths, means, "o-", color=COLORS[role], label=f"{role} (mean)")
        ax.axvline(comparison.budget.seq_len, color="k", ls=":", lw=1, label="train length")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("evaluation length (tokens)")
        ax.set_ylabel("held-out loss")
        ax.set_title("length extrapolation")
        ax.legend(fontsize=8)
    else:
        for m in metrics:
            ax = axes.pop(0)
            for x, role in enumerate(("stock", "design")):
                values = m.stock_values if role == "stock" else m.design_values
                mean, std = (m.stock_mean, m.stock_std) if role == "stock" else (m.design_mean, m.design_std)
                ax.scatter([x] * len(values), values, color=COLORS[role], alpha=0.6, s=18)
                ax.errorbar([x + 0.15], [mean], yerr=[std], fmt="s", color=COLORS[role], capsize=4)
                for seed, value in zip(comparison.seeds, values, strict=True):
                    ax.annotate(str(seed), (x, value), fontsize=6, xytext=(-9, -2), textcoords="offset points")
            interval = m.primary
            ax.set_xticks([0, 1], ["stock", "design"])
            ax.set_xlim(-0.5, 1.5)
            ax.set_title(
                f"{m.metric}: Δ {interval.estimate:+.3g}\n[{interval.low:.3g}, {interval.high:.3g}] ({m.verdict})",
                fontsize=9,
            )
    if has_curves:
        ax = axes.pop(0)
        for role in ("stock", "design"):
            for i, r in enumerate(records[role]):
                curve = r.training.get("loss_curve") or []
                if curve:
                    steps, losses = zip(*curve, strict=True)
                    style = "-" if role == "stock" else "--"  # same data order: the curves often overlap
                    label = role if i == 0 else None
                    ax.plot(steps, losses, style, color=COLORS[role], alpha=0.7, lw=1, label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.set_title("training loss (one line per seed)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{comparison.name}: {comparison.task}, budget {comparison.budget.name}", fontsize=10)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return Path(path)


def save_png(fig, path: str | Path, dpi: int = 80) -> Path:
    """Save a figure as a compact palette PNG (`compact_png`): the plots are kept in the repository."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return compact_png(buffer, path)


# Mean absolute error per channel (of 255) a palette may add: below what the eye sees on a plot.
_PALETTE_ERROR = 0.5


def compact_png(source, path: str | Path) -> Path:
    """Write the image `source` (a path or file) to `path` as a PNG of the fewest palette colours (16 to 256) that
    keep it within `_PALETTE_ERROR`: a line plot has a handful of colours and their anti-aliasing, so it looks the
    same at a third of the bytes of an RGBA PNG; a heatmap keeps more colours."""
    import io

    import numpy as np
    from PIL import Image

    image = Image.open(source).convert("RGB")
    pixels = np.asarray(image, dtype=np.float64)
    for colors in (16, 32, 64, 128, 256):
        palette = image.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        if np.abs(np.asarray(palette.convert("RGB"), dtype=np.float64) - pixels).mean() < _PALETTE_ERROR:
            break
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=True)
    Path(path).write_bytes(buffer.getvalue())
    return Path(path)
