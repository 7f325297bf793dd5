"""DDP scaling of the LoRA fine-tune: training tokens/s on 1 and N GPUs for a stock Llama and a design of it.

    python -m hf_archs.evaluation.scaling build --tokenizer DIR --out MODELS --design NAME   # random Llama + design
    python -m hf_archs.evaluation.scaling build --config CONFIG.json --tokenizer DIR --out MODELS --design NAME
    python -m hf_archs.evaluation.scaling train --model MODELS/stock --tag stock_1 --out RESULTS
    accelerate launch --multi_gpu --num_processes 2 -m hf_archs.evaluation.scaling train --model ... --tag stock_2

`build --config` takes a stock config.json (e.g. `benchmarks/configs/gemma-3-270m.json`) instead of the default
Llama shape; weights are random either way (tokens/s depends on the shapes, not on the weight values).
`train` runs `finetune_lora` (causal LM on concatenated WordNet text chunks of `--seq-len` tokens, global batch
`--batch-size` split over the processes) and writes `<tag>.json` with tokens/s (from Trainer's training time,
warm-up included) and the peak CUDA memory of the main process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def build(tokenizer_dir: str, out: str, hidden: int, layers: int, design: str, config_file: str | None = None) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from ..backbones import backbone_for
    from ..conversion import convert
    from ..registry import zoo_model

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = AutoConfig.from_pretrained(config_file) if config_file else _llama_config(tokenizer, hidden, layers)
    torch.manual_seed(0)
    stock = Path(out) / "stock"
    AutoModelForCausalLM.from_config(config).save_pretrained(stock)
    tokenizer.save_pretrained(stock)
    # The design's active setting: its term switched on, as after training.
    active = zoo_model(design, backbone_for(config).name).active_setting
    convert(design, str(stock), Path(out) / design, design_settings=active, force=True)


def _llama_config(tokenizer, hidden: int, layers: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 8 // 3 // 64 * 64,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=hidden // 64,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )


def train(model: str, tag: str, out: str, steps: int, batch_size: int, seq_len: int, work: str | None = None) -> None:
    import torch
    from transformers import AutoTokenizer

    from ..data import wordnet_texts
    from ..training import finetune_lora
    from ..training.distributed import process_state
    from .lm import chunked_texts

    state = process_state()
    tokenizer = AutoTokenizer.from_pretrained(model)
    texts = chunked_texts(wordnet_texts("train"), tokenizer, seq_len, steps * batch_size)
    work = Path(work or Path(out) / "work") / tag  # adapters and merged models
    report = finetune_lora(
        model,
        "causal_lm",
        str(work),
        max_steps=steps,
        batch_size=batch_size,
        learning_rate=2e-4,
        eval_size=32,
        train_texts=texts,
        max_length=seq_len,
        logging_steps=max(1, steps // 10),
    )
    if state.is_main_process:
        tokens = steps * batch_size * seq_len
        result = {
            "tag": tag,
            "model": model,
            "world_size": report.world_size,
            "global_batch": batch_size,
            "per_device_batch": report.per_device_batch_size,
            "seq_len": seq_len,
            "steps": steps,
            "train_seconds": report.train_seconds,
            "tokens_per_s": tokens / report.train_seconds,
            "peak_memory_gib_rank0": torch.cuda.max_memory_allocated() / 1024**3
            if torch.cuda.is_available()
            else None,
            "train_loss": report.train_loss,
            "design_modules_trained": report.design_modules_trained,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__,
        }
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
    state.wait_for_everyone()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build")
    b.add_argument("--tokenizer", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--hidden", type=int, default=768)
    b.add_argument("--layers", type=int, default=12)
    b.add_argument("--design", required=True, help="a design with a model type on the config's backbone")
    b.add_argument("--config", help="a stock decoder config.json to build instead of the default Llama shape")
    t = commands.add_parser("train")
    t.add_argument("--model", required=True)
    t.add_argument("--tag", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=40)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--seq-len", type=int, default=512)
    t.add_argument("--work", help="where the run's adapter and merged model go (default: OUT/work)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.command == "build":
        build(args.tokenizer, args.out, args.hidden, args.layers, args.design, args.config)
    else:
        from ..training.distributed import end_process_group

        train(args.model, args.tag, args.out, args.steps, args.batch_size, args.seq_len, args.work)
        end_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
