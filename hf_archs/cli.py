"""The `hf-archs` command: quickstart, list, convert, check; the harness: eval, compare, leaderboard, search; and
corpus, pretrain."""

import argparse
import json
import sys

from . import registry
from .backbones import UnsupportedSourceError
from .core.design import UnknownDesignKeyError
from .errors import UserError, one_line


def _parse_setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-archs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    quickstart = commands.add_parser(
        "quickstart",
        help="the main job: the bundled all-MiniLM-L6-v2 converted to a design, verified, LoRA fine-tuned on WordNet "
        "definition -> word retrieval beside stock MiniLM on the same budget, reloaded, reported",
    )
    quickstart.add_argument("--out", default="outputs/quickstart", help="output folder")
    quickstart.add_argument("--design", default="semantic", help="the design to convert MiniLM to (`hf-archs list`)")
    quickstart.add_argument("--max-steps", type=int, default=60, help="LoRA steps for each model")
    quickstart.add_argument("--eval-size", type=int, default=500, help="held-out entries to evaluate on")
    quickstart.add_argument("--no-stock", action="store_true", help="skip the stock MiniLM baseline")

    listing = commands.add_parser("list", help="list the zoo's designs and model types")
    listing.add_argument("--fields", action="store_true", help="also list each design's config fields")
    listing.add_argument("--math", action="store_true", help="also print each design's math (markdown)")

    convert = commands.add_parser("convert", help="convert a stock checkpoint into a design")
    convert.add_argument("--design", required=True, help=f"one of {list(registry.DESIGNS)}")
    convert.add_argument("--from", dest="source", required=True, help="local folder or Hub id of a stock checkpoint")
    convert.add_argument(
        "--out",
        required=True,
        help="output folder, outside the source folder; must not exist or be empty, unless --force",
    )
    convert.add_argument(
        "--force",
        action="store_true",
        help="replace an output folder that an earlier `hf-archs convert` wrote and that holds nothing else; any "
        "other folder is refused: --force never deletes what a conversion did not write",
    )
    convert.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_parse_setting,
        default=[],
        metavar="KEY=VALUE",
        help="a field of the design's config, JSON value (see `hf-archs list --fields`); unknown fields are refused",
    )
    convert.add_argument("--no-verify", action="store_true", help="skip the comparison with the source model")

    check = commands.add_parser("check", help="report non-finite values in a checkpoint's weights")
    check.add_argument("path")

    from .evaluation import cli as evaluation_cli

    evaluation_cli.add_subcommands(commands)  # eval, compare, leaderboard
    from .training import pretrain

    pretrain.add_subcommands(commands)  # corpus, pretrain
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Anticipated failures: printed as one line (with their cause); anything else is a bug and keeps its traceback."""
    from .conversion import ConversionError

    return (
        UserError,
        FileExistsError,
        FileNotFoundError,
        NotADirectoryError,
        UnsupportedSourceError,
        UnknownDesignKeyError,
        registry.UnknownDesignError,
        ConversionError,
    )


def run_reporting_errors(function, *args) -> int:
    """`function(*args)` as a command: an anticipated failure is printed as one line with its cause (exit status 2);
    any other exception is a bug and keeps its traceback. Also for the scripts under recipes/."""
    try:
        return function(*args) or 0
    except _user_errors() as error:
        print(f"hf-archs: error: {one_line(error)}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    from .training.distributed import end_process_group

    try:
        return run_reporting_errors(_run, build_parser().parse_args(argv))
    finally:
        end_process_group()  # under `accelerate launch`, before the interpreter's teardown can abort the process


def _run(args: argparse.Namespace) -> int:
    from .evaluation import cli as evaluation_cli

    if args.command in evaluation_cli.COMMANDS:
        return evaluation_cli.run(args)
    from .training import pretrain

    if args.command in pretrain.COMMANDS:
        return pretrain.run(args)
    if args.command == "quickstart":
        from .quickstart import run_quickstart

        run_quickstart(
            args.out,
            design=args.design,
            max_steps=args.max_steps,
            eval_size=args.eval_size,
            compare_stock=not args.no_stock,
        )
    elif args.command == "list":
        for entry in registry.ZOO:
            print(f"{entry.design_name:10s} {entry.backbone.name:7s} {entry.model_type:22s} {entry.summary}")
        if args.fields:
            for design in registry.DESIGNS.values():
                if design.identity is None:
                    start = ", ".join(f"{k}={v}" for k, v in design.conversion.start.items())
                    print(
                        f"\n{design.name}: fields {list(design.field_names)}; no identity setting (converted by "
                        f"training from {start})"
                    )
                    continue
                parts = [", ".join(f"{k}={v}" for k, v in design.identity.items())]
                for backbone, setting in (design.identity_by_backbone or {}).items():
                    parts.append(f"on {backbone}: " + ", ".join(f"{k}={v}" for k, v in setting.items()))
                identity = "; ".join(part for part in parts if part)
                print(f"\n{design.name}: fields {list(design.field_names)}; identity setting {identity}")
        if args.math:
            for design in registry.DESIGNS.values():
                print(f"\n## {design.name}\n\n{design.math}")
    elif args.command == "convert":
        from .conversion import convert

        report = convert(
            args.design,
            args.source,
            args.out,
            force=args.force,
            design_settings=dict(args.settings),
            verify=not args.no_verify,
        )
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in report.max_abs_diff.items())
        if report.sentence_embedding_max_abs_diff is not None:
            diffs += f", sentence embeddings {report.sentence_embedding_max_abs_diff:.2e}"
        print(f"converted {report.source} -> {report.output_dir} ({report.model_type}, {report.design_class})")
        print(f"new parameters: {len(report.new_parameters)} tensors, {report.design_settings}")
        print(f"max |Δ| vs source: {diffs or 'not verified'}{' (identity setting)' if report.identity else ''}")
        print(f"model card: {report.output_dir}/README.md")
    elif args.command == "check":
        from .checkpoints import non_finite_tensors

        bad = non_finite_tensors(args.path)
        for name, count in bad.items():
            print(f"{name}: {count} non-finite values")
        print("all weights finite" if not bad else f"{len(bad)} tensors with non-finite values")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
