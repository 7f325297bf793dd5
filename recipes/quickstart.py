#!/usr/bin/env python
"""The main job: convert the bundled all-MiniLM-L6-v2 to a design (semantic_bert by default), verify it, LoRA
fine-tune it on WordNet definition -> word retrieval (and stock MiniLM with the same budget), reload it with
AutoModel, print a report.

    python recipes/quickstart.py [--out outputs/quickstart] [--max-steps 60]
"""

import argparse

from hf_archs.quickstart import run_quickstart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="outputs/quickstart", help="output folder")
    parser.add_argument("--design", default="semantic", help="the design to convert MiniLM to (`hf-archs list`)")
    parser.add_argument("--max-steps", type=int, default=60, help="LoRA steps for each model")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out entries to evaluate on")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock MiniLM baseline")
    args = parser.parse_args()
    run_quickstart(
        args.out,
        design=args.design,
        max_steps=args.max_steps,
        eval_size=args.eval_size,
        compare_stock=not args.no_stock,
    )


if __name__ == "__main__":
    main()
