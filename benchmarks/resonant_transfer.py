"""How close the pure resonant variant gets to its stock model: convert all-MiniLM-L6-v2 with attention transfer and
print what the conversion measured (per-layer KL from the stock attention maps before/after, on WordNet train and
held-out definitions; max |Δ| of hidden states and sentence embeddings vs the stock model).

    OMP_NUM_THREADS=1 python benchmarks/resonant_transfer.py [--steps 100] [--out FILE]
"""

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path

from hf_archs.conversion import convert


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="resonant_transfer_steps (the conversion budget)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import all_minilm_l6_v2

    with tempfile.TemporaryDirectory() as scratch:
        with contextlib.redirect_stdout(io.StringIO()):
            source = all_minilm_l6_v2.extract_model(scratch)
        report = convert(
            "resonant_pure",
            source,
            Path(scratch) / "pure",
            design_settings={"resonant_transfer_steps": args.steps},
            progress=False,
        )
    result = {
        "initialization": report.initialization,
        "max_abs_diff_hidden_states": report.max_abs_diff,
        "max_abs_diff_sentence_embeddings": report.sentence_embedding_max_abs_diff,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
