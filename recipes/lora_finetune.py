#!/usr/bin/env python
"""LoRA fine-tune a local model on the shipped WordNet corpus and print before/after metrics.

Examples:
    python recipes/lora_finetune.py --model ./all-MiniLM-L6-v2 --task embedding --out /tmp/ft_minilm
    python recipes/lora_finetune.py --model ./my-llama --task causal_lm --out /tmp/ft_llama --max-steps 200

Writes `<out>/adapter`, `<out>/merged` and `<out>/report.json`; see `hf_archs.training.finetune_lora`.
"""

import argparse
import sys

from hf_archs.cli import run_reporting_errors
from hf_archs.training import TASKS, finetune_lora


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="local model folder (Transformers or sentence-transformers)")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument(
        "--design-learning-rate", type=float, default=1e-2, help="learning rate of the design's new parameters"
    )
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-size", type=int, default=None, help="train entries to use (default: all)")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out test entries to evaluate on")
    parser.add_argument(
        "--no-design-parameters", action="store_true", help="train LoRA only, not the design's new parameters"
    )
    parser.add_argument("--trust-remote-code", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    report = finetune_lora(
        args.model,
        args.task,
        args.out,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        design_learning_rate=args.design_learning_rate,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
        train_size=args.train_size,
        eval_size=args.eval_size,
        train_design_parameters=not args.no_design_parameters,
        trust_remote_code=args.trust_remote_code,
    )
    print(report.table())
    print(f"report: {args.out}/report.json")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main))
