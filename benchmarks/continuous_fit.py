"""How well an MLP of the position reproduces all-MiniLM-L6-v2's learned position table, and what that does to the
model: the numbers behind the continuous_bert model card.

    python benchmarks/continuous_fit.py [--out results/minilm-continuous]

For each `continuous_encoding_dim` E: conversion of the real all-MiniLM-L6-v2 (from its PyPI package) with the pure
MLP and with the exact variant (residual table); the fit (RMS and max |Δ| over the 512 × 384 table, the error at
position 0 apart: BERT's [CLS] position is an outlier), max |Δ| of the last hidden state (non-padding tokens) and of
the sentence-transformers embeddings, and the mean cosine between stock and converted sentence embeddings. CPU,
float32. Writes conversion_fit.json and conversion_fit.md.
"""

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import torch

import hf_archs
from hf_archs.conversion.verify import SAMPLE_TEXTS
from hf_archs.designs.continuous.conversion import TABLE_SUFFIX, read_source_weight


TEXTS = [
    *SAMPLE_TEXTS,
    "A dog chases the ball across the yard.",
    "Photosynthesis turns light into chemical energy.",
    "The committee postponed its decision until the next quarterly meeting, citing incomplete data from two "
    "regional offices and an unresolved question about the budget for the coming year.",
]


def sentence_embeddings(path: Path) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", trust_remote_code=True)
    return model.encode(TEXTS, convert_to_tensor=True, normalize_embeddings=True)


def measure(minilm: Path, scratch: Path, encoding_dim: int, residual: bool, stock_embeddings) -> dict:
    name = f"E{encoding_dim}-{'exact' if residual else 'mlp'}"
    settings = {"continuous_encoding_dim": encoding_dim, "continuous_residual_table": residual}
    with contextlib.redirect_stdout(io.StringIO()):
        report = hf_archs.convert("continuous", str(minilm), scratch / name, design_settings=settings, progress=False)
    table = read_source_weight(minilm, TABLE_SUFFIX)
    model = hf_archs.ContinuousBertModel.from_pretrained(scratch / name)
    with torch.no_grad():
        error = (
            model.embeddings.position_embeddings.encode(
                torch.arange(len(table)) / model.config.max_position_embeddings
            )
            - table
        )
    embeddings = sentence_embeddings(scratch / name)
    return {
        "setting": name,
        **report.initialization["position_fit"],
        "fit_max_abs_after_position_0": error[1:].abs().max().item(),
        "fit_abs_at_position_0": error[0].abs().max().item(),
        "hidden_max_abs_diff": max(report.max_abs_diff.values()),
        "sentence_embedding_max_abs_diff": report.sentence_embedding_max_abs_diff,
        "sentence_cosine_to_stock_mean": (embeddings * stock_embeddings).sum(-1).mean().item(),
        "sentence_cosine_to_stock_min": (embeddings * stock_embeddings).sum(-1).min().item(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/minilm-continuous")
    parser.add_argument("--encoding-dims", default="64,256")
    args = parser.parse_args()
    import all_minilm_l6_v2

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        with contextlib.redirect_stdout(io.StringIO()):
            minilm = Path(all_minilm_l6_v2.extract_model(str(scratch / "minilm")))
        stock_embeddings = sentence_embeddings(minilm)
        rows = [
            measure(minilm, scratch, int(dim), residual, stock_embeddings)
            for dim in args.encoding_dims.split(",")
            for residual in (False, True)
        ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "conversion_fit.json").write_text(json.dumps(rows, indent=2) + "\n")
    columns = [
        ("setting", "setting"),
        ("fit_rms", "fit RMS"),
        ("table_rms", "table RMS"),
        ("fit_abs_at_position_0", "max abs Δ at position 0"),
        ("fit_max_abs_after_position_0", "max abs Δ positions 1-511"),
        ("ridge", "ridge"),
        ("hidden_max_abs_diff", "hidden max abs Δ"),
        ("sentence_embedding_max_abs_diff", "sentence emb. max abs Δ"),
        ("sentence_cosine_to_stock_mean", "cos(stock) mean"),
        ("sentence_cosine_to_stock_min", "cos(stock) min"),
    ]
    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = [row[key] if isinstance(row[key], str) else f"{row[key]:.3g}" for key, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    (out / "conversion_fit.md").write_text(
        "all-MiniLM-L6-v2 → continuous_bert, CPU float32 (`python benchmarks/continuous_fit.py`):\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
