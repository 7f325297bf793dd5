#!/usr/bin/env python
"""Compare a design with its stock source under one budget, over seeds (same as `hf-archs compare`).

Examples:
    python recipes/compare.py --design ./minilm-semantic --stock ./all-MiniLM-L6-v2 --task retrieval --budget laptop
    python recipes/compare.py --design ./llama-semantic --stock ./llama --task arithmetic --budget gpu \
        --card model_cards/semantic_llama.md --name llama-arithmetic
    accelerate launch --multi_gpu --num_processes 2 recipes/compare.py --design ... --stock ... --task perplexity

See `hf_archs/evaluation/README.md`.
"""

import sys

from hf_archs.evaluation.cli import main


if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
