"""Decoders into encoders: one stock decoder checkpoint converted into oscillating base models (no LM head) whose
layers are all causal (the stock function), all bidirectional, or the oscillating cycle, ready for the harness's
encoder tasks (retrieval with mean pooling).

    python -m benchmarks.oscillating.encoders --from <stock decoder folder> --out outputs/gemma-encoders

Each variant goes through `hf-archs convert` (the all-causal one verified against the stock model), then its base
model is saved with the tokenizer. Not imported by the models.

    python -m benchmarks.oscillating.encoders --table results --card model_cards/oscillating_gemma3_text.md

writes the retrieval tables of the stored harness runs (causal vs bidirectional vs oscillating Gemma 3, and the
MiniLM reference) between the card's `oscillating-encoders-retrieval` markers.
"""

import argparse
import json
import tempfile
from pathlib import Path

import transformers

from hf_archs.conversion import convert
from hf_archs.designs.oscillating.design import DEFAULT_CYCLE


VARIANTS = {
    "causal": ["forward"],
    "bidirectional": ["bidirectional"],
    "oscillating": list(DEFAULT_CYCLE),
}


def decoder_to_encoders(source: str, out_dir: Path, variants: dict[str, list[str]] = VARIANTS) -> dict[str, Path]:
    out_dir = Path(out_dir)
    folders = {}
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
        for name, patterns in variants.items():
            converted = Path(tmp) / name
            settings = {"oscillating_layer_attention_patterns": patterns}
            convert("oscillating", source, converted, design_settings=settings, verify=patterns == ["forward"])
            model = transformers.AutoModel.from_pretrained(converted)
            folders[name] = out_dir / name
            model.save_pretrained(folders[name])
            tokenizer.save_pretrained(folders[name])
            del model
    return folders


# Stored harness runs (under the results folder) behind the card's retrieval tables: budget -> comparison names.
RUNS = {
    "gemma3-cpu": ("gemma-3-270m-oscillating-encoder", "gemma-3-270m-bidirectional-encoder"),
    "gemma3-cpu-mntp": ("gemma-3-270m-oscillating-encoder-mntp", "gemma-3-270m-bidirectional-encoder-mntp"),
}
REFERENCE = "minilm-retrieval-reference"  # all-MiniLM-L6-v2 under gemma3-cpu (`harness.train_and_evaluate`)
TABLE_NAME = "oscillating-encoders-retrieval"


def _run_dir(results: Path, name: str, budget: str) -> Path | None:
    found = sorted(Path(results).glob(f"{name}/retrieval-{budget}-*"))
    return found[0] if found else None


def retrieval_tables(results: Path) -> str:
    """Markdown: per budget, causal / bidirectional / oscillating rows (and MiniLM under gemma3-cpu), then the
    paired differences over the seeds each pair has."""
    from hf_archs.evaluation import get_task
    from hf_archs.evaluation.budgets import Budget
    from hf_archs.evaluation.report import load_role_records, models_markdown

    task, parts = get_task("retrieval"), []
    for budget_name, (oscillating, bidirectional) in RUNS.items():
        dirs = {"oscillating": _run_dir(results, oscillating, budget_name)}
        dirs["bidirectional"] = _run_dir(results, bidirectional, budget_name)
        present = [d for d in dirs.values() if d is not None]
        if not present:
            continue
        budget = Budget.from_dict(json.loads((present[0] / "run.json").read_text())["budget"])
        causal = {}
        for run_dir in present:  # the causal (stock) runs are the same in both comparisons: take every seed found
            causal |= load_role_records(run_dir, "stock")
        rows = {"causal (stock)": causal}
        rows |= {label: load_role_records(d, "design") if d else {} for label, d in dirs.items()}
        notes = {}
        reference = _run_dir(results, REFERENCE, budget_name)
        if reference is not None:
            rows["all-MiniLM-L6-v2"] = load_role_records(reference, "model")
            notes["all-MiniLM-L6-v2"] = "a different model (22M-parameter BERT encoder): unpaired, no Δ rows"
        mntp = f"{budget.mntp_steps} MNTP steps, then " if budget.mntp_steps else ""
        parts += [
            f"**Budget `{budget_name}`** ({mntp}{budget.steps} contrastive steps × batch {budget.batch_size}; LoRA "
            f"r={budget.lora_r}, lr {budget.learning_rate:g}; {budget.eval_size} held-out items, the same for every "
            f"model and seed). Gemma rows: mean pooling.",
            "",
            models_markdown(
                task,
                budget,
                rows,
                [
                    ("bidirectional", "causal (stock)"),
                    ("oscillating", "causal (stock)"),
                    ("oscillating", "bidirectional"),
                ],
                notes,
            ),
            "",
        ]
    parts.append(f"Generated by `python -m benchmarks.oscillating.encoders --table {results}`.")
    return "\n".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", help="stock decoder folder (Llama or Gemma 3)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {list(VARIANTS)}")
    parser.add_argument("--table", type=Path, help="results folder: print the retrieval tables instead")
    parser.add_argument("--card", type=Path, help="with --table: write them between the card's markers")
    args = parser.parse_args(argv)
    if args.table:
        markdown = retrieval_tables(args.table)
        if args.card:
            from hf_archs.evaluation.cards import update_card

            update_card(args.card, TABLE_NAME, markdown)
        print(markdown)
        return
    if not (args.source and args.out):
        parser.error("--from and --out are required (or --table)")
    chosen = {name: VARIANTS[name] for name in args.variants.split(",")}
    for name, folder in decoder_to_encoders(args.source, args.out, chosen).items():
        print(name, folder)


if __name__ == "__main__":
    main()
