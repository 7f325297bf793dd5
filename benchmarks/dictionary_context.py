"""The seed's question for dictionary context, on the real all-MiniLM-L6-v2 (definition retrieval, WordNet):
at equal training budget, does a short context plus the dictionary match a longer context?

    python benchmarks/dictionary_context.py --minilm outputs/minilm/all-MiniLM-L6-v2 --work outputs/dictionary \
        --short 16 --long 64 --steps 20 --batch 16 --eval-size 200 --table-limit 3000

1. D is built from the WordNet *train* split only (`--table-limit` entries), so a held-out (test) word's own
   definition is not in the table (no leak into definition retrieval).
2. MiniLM is converted to the dictionary design (every layer, W = 0: exact) and D installed.
3. `compare` (the harness: LoRA, same budget and seeds for both) at the short context: dictionary vs stock.
4. `compare` at the long context: stock vs itself (the stock numbers at the long context; Δ is 0 by construction).
Budgets differ from `laptop` only in steps, batch, eval size and seq_len (this CPU is shared; see the card).
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

import hf_archs
from hf_archs.designs.dictionary.table import build_dictionary_table, install_table, minilm_encoder
from hf_archs.evaluation import compare
from hf_archs.evaluation.budgets import BUDGETS


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minilm", required=True)
    parser.add_argument("--work", default="outputs/dictionary")
    parser.add_argument("--out", default="results")
    parser.add_argument("--short", type=int, default=16)
    parser.add_argument("--long", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--table-limit", type=int, default=3000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--card", default=None)
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    design_dir = work / f"minilm-dictionary-train{args.table_limit}"

    if not (design_dir / "config.json").exists():
        start = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(args.minilm)
        table, summary = build_dictionary_table(
            tokenizer, minilm_encoder(args.minilm), tokenizer.vocab_size, splits=("train",), limit=args.table_limit
        )
        summary["seconds"] = time.perf_counter() - start
        print("table:", summary, flush=True)
        hf_archs.convert("dictionary", args.minilm, design_dir, force=True, progress=False)
        model = AutoModel.from_pretrained(design_dir)
        padded = torch.zeros(model.config.vocab_size, table.shape[1])
        padded[: table.shape[0]] = table
        install_table(model, padded, f"wordnet-train-{args.table_limit}:all-MiniLM-L6-v2")
        model.save_pretrained(design_dir)
        (design_dir / "dictionary_table.json").write_text(json.dumps(summary, indent=2))

    seeds = tuple(int(s) for s in args.seeds.split(","))
    base = dataclasses.replace(
        BUDGETS["laptop"], steps=args.steps, batch_size=args.batch, eval_size=args.eval_size, seeds=seeds
    )
    short = dataclasses.replace(base, name=f"cpu-L{args.short}", seq_len=args.short)
    result = compare(
        str(design_dir), args.minilm, "retrieval", short, out=args.out, name=f"minilm-dictionary-L{args.short}"
    )
    print(result.markdown, flush=True)
    if args.skip_long:
        return
    long = dataclasses.replace(base, name=f"cpu-L{args.long}", seq_len=args.long)
    result = compare(args.minilm, args.minilm, "retrieval", long, out=args.out, name=f"minilm-stock-L{args.long}")
    print(result.markdown, flush=True)


if __name__ == "__main__":
    main()
