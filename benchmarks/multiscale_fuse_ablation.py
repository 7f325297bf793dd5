"""Which part of a fine-tuned multi-scale model carries its gain: the narrow branches, or Fuse's full-width block?

A multi-scale layer's Fuse is Linear(Σs → d) on [narrow branch outputs | stock layer output]. At conversion its
full-width block is the identity; fine-tuning trains the whole matrix, so that block alone is a full-rank d × d
linear map on every layer's output (trained in full, beside LoRA). This script fine-tunes a converted multi-scale
model exactly as `hf-archs compare` does (same `finetune_lora` settings from the budget, per seed), then evaluates
the task on four versions of the trained model:

- trained: as fine-tuned (the harness's number);
- without branches: Fuse's columns of the narrow branches set to 0 (the branches no longer contribute);
- full-width block reset: Fuse's full-width block set back to the identity (the branches' columns kept);
- both: the two at once (the stock layers + LoRA only).

    python benchmarks/multiscale_fuse_ablation.py --model outputs/gemma/gemma-3-270m-multiscale \
        --task perplexity --budget gemma3-cpu-design-lr-1e-5 --seeds 0 1 2 \
        --out results/gemma-3-270m-multiscale-design-lr-1e-5/fuse_ablation.json
"""

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging

import hf_archs  # noqa: F401  (registers the zoo)
from hf_archs.designs.multiscale.design import MultiScaleLayer
from hf_archs.evaluation.budgets import BUDGETS
from hf_archs.evaluation.harness import lora_settings
from hf_archs.evaluation.tasks import get_task
from hf_archs.training import finetune_lora


VERSIONS = ("trained", "without branches", "full-width block reset", "both")


def ablate(model, version: str) -> None:
    """Edit every multi-scale layer's Fuse in place for `version` (placement "layers": the stock layer's output is
    the last `hidden_size` inputs of Fuse)."""
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, MultiScaleLayer):
                continue
            if module.after_encoder:
                raise ValueError("The ablation applies to placement 'layers' (Fuse has a full-width stock block).")
            width = module.fuse_weight.shape[0]
            if version in ("without branches", "both"):
                module.fuse_weight[:, :-width] = 0
            if version in ("full-width block reset", "both"):
                module.fuse_weight[:, -width:] = torch.eye(width)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a converted multi-scale decoder (placement 'layers')")
    parser.add_argument("--task", default="perplexity", choices=["perplexity"])
    parser.add_argument("--budget", required=True, choices=list(BUDGETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.set_verbosity_error()
    budget = BUDGETS[args.budget]
    task = get_task(args.task)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    results = {version: [] for version in VERSIONS}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as work:
            report = finetune_lora(
                args.model,
                task.objective,
                f"{work}/train",
                max_steps=budget.steps,
                **lora_settings(budget, seed),
                eval_size=min(budget.eval_size, 128),
                logging_steps=max(1, budget.steps // 50),
                **task.training_kwargs(tokenizer, budget, seed),
            )
            for version in VERSIONS:
                model = AutoModelForCausalLM.from_pretrained(report.merged_dir)
                ablate(model, version)
                path = Path(work) / "ablated"
                shutil.rmtree(path, ignore_errors=True)
                model.save_pretrained(path)
                tokenizer.save_pretrained(path)
                metrics = task.evaluate(path, budget).metrics
                results[version].append(metrics)
                print(f"seed {seed} {version:<24} " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)

    print(f"\n{'version':<26}" + "".join(f"{metric:>22}" for metric in results["trained"][0]))
    summary = {}
    for version, runs in results.items():
        summary[version] = {}
        cells = []
        for metric in runs[0]:
            values = [run[metric] for run in runs]
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            summary[version][metric] = {"mean": statistics.fmean(values), "std": spread, "values": values}
            cells.append(f"{statistics.fmean(values):.3f} ± {spread:.3f}".rjust(22))
        print(f"{version:<26}" + "".join(cells))
    if args.out:
        setup = {"model": args.model, "task": args.task, "budget": budget.to_dict(), "seeds": args.seeds}
        args.out.write_text(json.dumps({"setup": setup, "results": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
