"""`hf-archs eval`, `hf-archs compare`, `hf-archs search`, `hf-archs leaderboard` (subcommands of `hf_archs/cli.py`).

parser = argparse.ArgumentParser(); subparsers = parser.add_subparsers(dest="command")
add_subcommands(subparsers); args = parser.parse_args(); sys.exit(run(args))
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError


COMMANDS = ("eval", "compare", "search", "leaderboard")


# Where eval and compare write unless told: outputs/ is git-ignored; the tracked results/ only when asked for.
DEFAULT_OUT = Path("outputs")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    return seeds


def _check_device(device: str | None) -> None:
    """Refuse a device this machine lacks before any model is loaded."""
    if device is None:
        return
    import torch

    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise UserError(f"--device {device} is not available on this machine") from error


def _budget_from_json(path: str):
    from .budgets import Budget

    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"--budget-json {path}: no such file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"--budget-json {path} is not valid JSON") from error
    return Budget.from_dict(data, source=path)


def _pair_arguments(parser, tasks: str) -> None:
    """The arguments of a design-vs-stock run (compare and search)."""
    from .budgets import BUDGETS
    from .tasks import TASKS

    parser.add_argument("--design", required=True, help="design model folder (e.g. from `hf-archs convert`)")
    parser.add_argument("--stock", required=True, help="its stock source folder")
    parser.add_argument("--task", required=True, choices=list(TASKS), help=tasks)
    parser.add_argument("--budget", default="laptop", choices=list(BUDGETS))
    parser.add_argument("--budget-json", default=None, help="a budget as JSON (file path), instead of --budget")
    parser.add_argument("--seeds", type=_seeds, default=None, help="comma-separated (default: the budget's seeds)")
    parser.add_argument(
        "--out", default=str(DEFAULT_OUT), help="results folder (default: outputs/; results/ is tracked)"
    )
    parser.add_argument("--name", default=None, help="comparison name (default: <design>-vs-<stock>)")
    parser.add_argument("--card", default=None, help="model card to update between `hf-archs:results NAME` markers")
    parser.add_argument("--device", default=None)
    parser.add_argument("--keep-models", action="store_true", help="keep adapters and merged models under work/")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--trust-remote-code", action="store_true")


def add_subcommands(subparsers) -> None:
    from .budgets import BUDGETS
    from .tasks import TASKS

    tasks = ", ".join(f"{n} ({'/'.join(t.model_kinds)})" for n, t in TASKS.items())

    ev = subparsers.add_parser("eval", help="evaluate a model folder on a named task (no training); JSON record")
    ev.add_argument("model", help="local model folder")
    ev.add_argument("--task", required=True, choices=list(TASKS), help=tasks)
    ev.add_argument("--budget", default="laptop", choices=list(BUDGETS), help="eval sizes, sequence length, ...")
    ev.add_argument("--out", default=None, help="record path (default: outputs/eval/<model>-<task>-<budget>.json)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--device", default=None)
    ev.add_argument("--trust-remote-code", action="store_true")

    cp = subparsers.add_parser("compare", help="design vs stock source under the same budget, over seeds")
    _pair_arguments(cp, tasks)
    cp.add_argument(
        "--stock-budget-json",
        default=None,
        help="stock's own budget as JSON (file path), differing from the design's only in training settings",
    )

    se = subparsers.add_parser(
        "search", help="choose settings on the validation split by a declared grid, then compare once on test"
    )
    _pair_arguments(se, tasks)
    se.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="FIELD=V1,V2,...",
        help="budget field and the values to try, repeatable (e.g. --grid design_learning_rate=1e-5,1e-4 "
        "--grid learning_rate=5e-4,1e-3); stock is searched over the fields that change its training",
    )
    se.add_argument("--metric", default=None, help="the metric choices are made by (default: the task's first)")

    lb = subparsers.add_parser("leaderboard", help="render every stored result into one markdown table")
    lb.add_argument("--results", default="results", help="results folder (default: results/); must hold results")
    lb.add_argument(
        "--output", default=None, help="file to write (e.g. LEADERBOARD.md), replaced atomically; default: stdout"
    )
    lb.add_argument(
        "--cards",
        default=None,
        help="also regenerate the result tables and Math sections (from `Design.math`) of the cards in this folder",
    )
    lb.add_argument(
        "--rejudge",
        action="store_true",
        help="first recompute every stored comparison's statistics and verdicts from its per-seed records under the "
        "current verdict rule (nothing is trained)",
    )


def run(args: argparse.Namespace) -> int:
    if args.command == "eval":
        from .harness import evaluate

        _check_device(args.device)
        out = args.out or DEFAULT_OUT / "eval" / f"{Path(args.model).name}-{args.task}-{args.budget}.json"
        record = evaluate(
            args.model,
            args.task,
            args.budget,
            seed=args.seed,
            output=out,
            device=args.device,
            trust_remote_code=args.trust_remote_code,
        )
        print(json.dumps(record.metrics, indent=2))
        print(f"record: {out}")
        return 0
    if args.command in ("compare", "search"):
        from .cards import update_card
        from .harness import compare
        from .search import parse_grid, search, search_markdown

        _check_device(args.device)
        budget = _budget_from_json(args.budget_json) if args.budget_json else args.budget
        common = dict(
            out=args.out,
            name=args.name,
            seeds=args.seeds,
            device=args.device,
            progress=not args.no_progress,
            keep_models=args.keep_models,
            trust_remote_code=args.trust_remote_code,
        )
        if args.command == "search":
            grid = parse_grid(args.grid)
            result = search(args.design, args.stock, args.task, budget, grid, metric=args.metric, **common)
            print(search_markdown(result) + "\n")
            comparison = result.comparison
        else:
            stock_budget = _budget_from_json(args.stock_budget_json) if args.stock_budget_json else None
            comparison = compare(args.design, args.stock, args.task, budget, stock_budget=stock_budget, **common)
        if comparison is None:  # a non-main process under accelerate launch
            return 0
        print(comparison.markdown)
        print(
            f"\nresults: {comparison.run_dir} (trained seeds {comparison.trained_seeds}, "
            f"reused {comparison.reused_seeds})"
        )
        if args.card:
            changed = update_card(args.card, comparison.name, comparison.markdown)
            print(f"card {args.card}: {'updated' if changed else 'unchanged'}")
        return 0
    if args.command == "leaderboard":
        from .leaderboard import write_leaderboard

        if args.rejudge:
            from .harness import rejudge

            for path in sorted(Path(args.results).rglob("comparison.json")):
                print(f"rejudged: {rejudge(path.parent).name}")
        markdown = write_leaderboard(args.results, args.output)
        if args.cards:
            from .cards import refresh_cards, refresh_math

            for line in refresh_cards(args.results, args.cards):
                print(f"card table regenerated: {line}")
            for card in refresh_math(args.cards):
                print(f"card math regenerated: {card}")
        if args.output is None:
            print(markdown)
        else:
            print(f"written: {args.output}")
        return 0
    raise ValueError(f"not an evaluation command: {args.command!r}")


def main(argv: list[str] | None = None) -> int:
    """`python -m hf_archs.evaluation.cli ...`: the same as `hf-archs ...` (errors reported the same way)."""
    from ..cli import main as hf_archs_main

    return hf_archs_main(argv)


if __name__ == "__main__":
    sys.exit(main())
