"""Parameter counts of the `hf-archs pretrain` presets (stock arms) with a built corpus's tokenizer: the numbers the
README quotes.

    python benchmarks/pretrain_presets.py outputs/corpus/tokenizer [--seq-len 256] [--out FILE]
"""

import argparse
import json
from pathlib import Path

from transformers import AutoTokenizer

from hf_archs.training.pretrain import PRESETS, build_model, model_config, parameter_counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokenizer")
    parser.add_argument("--seq-len", type=int, default=256, help="as `hf-archs pretrain --seq-len` (BERT's positions)")
    parser.add_argument("--out", default="benchmarks/results/pretrain_presets.json")
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    counts = {
        preset: parameter_counts(build_model(model_config(preset, tokenizer, args.seq_len)))
        for preset in PRESETS
        if not preset.endswith("-tiny")
    }
    record = {"vocab_size": len(tokenizer), "seq_len": args.seq_len, "parameters": counts}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
