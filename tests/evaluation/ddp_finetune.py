"""Run by `accelerate launch` from test_ddp.py: one LoRA fine-tune (or a comparison, or a sharded evaluation of
5 items) in every process."""

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["finetune", "compare", "shards"])
    parser.add_argument("--model")
    parser.add_argument("--stock")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    if args.mode == "shards":
        from hf_archs.training.distributed import evaluate_in_shards

        seen = []
        gathered = evaluate_in_shards(
            list(range(5)), lambda share: seen.extend(share) or [[report_rank(), i] for i in share]
        )
        Path(args.out, f"rank_{report_rank()}.json").write_text(json.dumps({"seen": seen, "gathered": gathered}))
        return 0
    if args.mode == "finetune":
        from hf_archs.training import finetune_lora

        report = finetune_lora(args.model, "causal_lm", args.out, **finetune_kwargs(args.steps, args.batch_size))
        Path(args.out, f"rank_{report_rank()}.json").write_text(json.dumps(report.to_dict()))
        return 0
    import torch.distributed as dist

    from hf_archs.evaluation.cli import main as cli_main

    code = cli_main(
        ["compare", "--design", args.model, "--stock", args.stock, "--task", "perplexity", "--budget", "ci"]
        + ["--seeds", "0,1", "--out", args.out, "--name", "ddp", "--no-progress"]
    )
    Path(args.out, f"exit_{report_rank()}.json").write_text(json.dumps({"process_group_up": dist.is_initialized()}))
    return code


def finetune_kwargs(steps: int, batch_size: int) -> dict:
    return dict(max_steps=steps, batch_size=batch_size, learning_rate=5e-3, train_size=256, eval_size=32, seed=0)


def report_rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


if __name__ == "__main__":
    code = main()
    from hf_archs.training.distributed import end_process_group

    end_process_group()  # what a user's launched script must do too
    sys.exit(code)
