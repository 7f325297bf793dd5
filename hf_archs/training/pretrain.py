"""From-scratch pretraining of stock models and zoo designs on the packaged corpus (`hf-archs corpus build`).

    hf-archs pretrain --corpus outputs/corpus --preset llama-30m --model-type stock --seed 0 --out runs/
    hf-archs pretrain --corpus outputs/corpus --preset llama-30m --model-type semantic_llama --seed 0 --out runs/
    hf-archs pretrain --corpus outputs/corpus --preset llama-30m --match-params semantic_llama --seed 0 --out runs/

Every arm of a study sees the same tokens in the same order: the training stream is cut into windows of
`--seq-len` tokens, permuted by `--seed` alone (never by the model), and fed sequentially for `--tokens` tokens
with the same schedule. A design runs at its active setting (`ZooModel.active_setting`); `--match-params TYPE`
widens the stock model's MLP so its parameter count matches TYPE's within 2%. Decoders are evaluated at the
training length and at 2x, 4x, 8x it (the same validation tokens at every length); encoders by their MLM loss on
fixed masks. Each run writes `<run>.json` (an `EvalRecord`: metrics, per-window losses for the paired bootstrap,
parameter counts, tokens, tokens/s, seconds, versions and the command) and resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments


def _llama(**shape) -> dict:
    """A Llama-style decoder: as many KV heads as heads, tied embeddings."""
    return dict(backbone="llama", **shape, num_key_value_heads=shape["num_attention_heads"], tie_word_embeddings=True)


def _bert(**shape) -> dict:
    return dict(backbone="bert", **shape)


# Llama-style decoder and BERT-style encoder shapes; vocab_size and the special ids come from the corpus tokenizer.
PRESETS: dict[str, dict] = {
    "llama-30m": _llama(hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8),
    "bert-30m": _bert(hidden_size=512, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=8),
    "llama-tiny": _llama(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
    "bert-tiny": _bert(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4),
}
EXTRAPOLATION_FACTORS = (1, 2, 4, 8)
MATCH_TOLERANCE = 0.02


def stock_config(preset: str, tokenizer, seq_len: int, **overrides):
    """The stock config of `preset`; decoders get positions for 8x the training length (extrapolation)."""
    from transformers import BertConfig, LlamaConfig

    shape = {**{k: v for k, v in PRESETS[preset].items() if k != "backbone"}, **overrides}
    special = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if PRESETS[preset]["backbone"] == "llama":
        return LlamaConfig(
            **shape,
            **special,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            max_position_embeddings=seq_len * max(EXTRAPOLATION_FACTORS),
        )
    return BertConfig(**shape, **special, max_position_embeddings=seq_len)


def model_config(preset: str, tokenizer, seq_len: int, model_type: str = "stock", **overrides):
    """The config of one arm: stock, or the zoo model type at its active setting on the preset's shape."""
    base = stock_config(preset, tokenizer, seq_len, **overrides)
    if model_type == "stock":
        return base
    from ..backbones import backbone_for
    from ..registry import zoo_model_for_type

    entry = zoo_model_for_type(model_type)
    if entry.backbone.name != PRESETS[preset]["backbone"]:
        raise ValueError(f"{model_type} is a {entry.backbone.name} model; preset {preset} is {PRESETS[preset]}.")
    return backbone_for(base).design_config(entry.config_class, base, **entry.active_setting)


def auto_class(config) -> type:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    backbone = getattr(type(config), "backbone", None)  # zoo configs name their backbone
    family = backbone.name if backbone is not None else config.model_type
    return AutoModelForMaskedLM if family == "bert" else AutoModelForCausalLM


def build_model(config, device: str | None = None):
    if device is None:
        return auto_class(config).from_config(config)
    with torch.device(device):
        return auto_class(config).from_config(config)


def parameter_counts(model) -> dict[str, int]:
    """Total parameters (tied ones once) and their parts: input/position embeddings, the design's new modules, and
    the rest of the backbone (attention, MLP, norms, head)."""
    from ..core.model import design_parameter_names

    named = dict(model.named_parameters())  # tied parameters appear once
    design = design_parameter_names(model)
    embedding_ids = {id(model.get_input_embeddings().weight)}
    for name, param in named.items():
        if name.endswith(("position_embeddings.weight", "token_type_embeddings.weight")):
            embedding_ids.add(id(param))
    counts = {"total": 0, "embeddings": 0, "design": 0, "backbone": 0}
    for name, param in named.items():
        part = "design" if name in design else "embeddings" if id(param) in embedding_ids else "backbone"
        counts[part] += param.numel()
        counts["total"] += param.numel()
    return counts


def matched_intermediate_size(preset: str, tokenizer, seq_len: int, target: int, multiple: int = 8) -> int:
    """The stock MLP width (a multiple of `multiple`) whose parameter count is closest to `target`; raises when the
    closest is more than 2% off. The count is linear in the width: two meta-device builds give the line."""
    default = PRESETS[preset]["intermediate_size"]

    def count(width: int) -> int:
        config = stock_config(preset, tokenizer, seq_len, intermediate_size=width)
        return parameter_counts(build_model(config, "meta"))["total"]

    base, slope = count(default), (count(default + multiple) - count(default)) / multiple
    width = max(multiple, round((default + (target - base) / slope) / multiple) * multiple)
    achieved = count(width)
    if abs(achieved - target) > MATCH_TOLERANCE * target:
        raise ValueError(f"No MLP width matches {target} parameters within 2% (closest {width}: {achieved}).")
    return width


# --- data ----------------------------------------------------------------------------------------------------------


class WindowDataset(Dataset):
    """Non-overlapping windows of `seq_len` tokens of a token stream, in an order drawn from `seed` only."""

    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int):
        self.tokens, self.seq_len = tokens, seq_len
        self.order = np.random.default_rng(seed).permutation(len(tokens) // seq_len)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.order[index]) * self.seq_len
        ids = torch.from_numpy(self.tokens[start : start + self.seq_len].astype(np.int64))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class OrderedTrainer(Trainer):
    """A Trainer that feeds the dataset in its own (seeded) order: every arm sees the same batches."""

    def _get_train_sampler(self, train_dataset=None):
        return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)


class TokensPerSecond(TrainerCallback):
    """Logs tokens seen and training tokens/s (since this session's first step) with each loss."""

    def __init__(self, tokens_per_step: int):
        self.tokens_per_step = tokens_per_step
        self.curve: list[dict] = []
        self.start_time = self.start_step = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.start_time is None:
            self.start_time, self.start_step = time.perf_counter(), state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs or self.start_time is None:
            return
        elapsed = time.perf_counter() - self.start_time
        tokens = state.global_step * self.tokens_per_step
        rate = (state.global_step - self.start_step) * self.tokens_per_step / max(elapsed, 1e-9)
        logs.update(tokens=tokens, tokens_per_second=round(rate, 1))
        self.curve.append(
            {"step": state.global_step, "tokens": tokens, "loss": logs["loss"], "tokens_per_second": rate}
        )

    @property
    def tokens_per_second(self) -> float:
        return self.curve[-1]["tokens_per_second"] if self.curve else 0.0


# --- evaluation ----------------------------------------------------------------------------------------------------


def evaluate(
    model, tokenizer, tokens: np.ndarray, seq_len: int, windows: int, batch_size: int, causal: bool, bf16: bool
):
    """(metrics, items, weights, details): validation loss at the training length, and for decoders at 2x/4x/8x it
    over the same tokens; for encoders the MLM loss on masks fixed by seed 0. Under bf16 autocast on a GPU when
    the run trained in bf16."""
    from ..evaluation.lm import window_batches
    from .language_modeling import fixed_eval_batches, per_item_loss

    factors = EXTRAPOLATION_FACTORS if causal else (1,)
    span = seq_len * max(factors)
    num_tokens = min(windows * seq_len, len(tokens) // span * span)
    if num_tokens < span:
        raise ValueError(f"The validation stream ({len(tokens)} tokens) is shorter than one {span}-token window.")
    ids = tokens[:num_tokens].astype(np.int64).tolist()
    metrics, items, weights = {}, {}, {}
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and next(model.parameters()).is_cuda)
    for factor in factors:
        length = seq_len * factor
        key = "loss" if factor == 1 else f"loss@{factor}x"
        if causal:
            batches = window_batches(ids, length, max(1, batch_size // factor))
        else:
            features = [
                {"input_ids": ids[i : i + length], "attention_mask": [1] * length} for i in range(0, len(ids), length)
            ]
            batches = fixed_eval_batches(tokenizer, features, mlm=True, batch_size=batch_size, seed=0)
        with autocast:
            losses, counts = per_item_loss(model, batches, causal=causal, desc=f"eval {key}")
        metrics[key] = sum(loss * count for loss, count in zip(losses, counts, strict=True)) / sum(counts)
        metrics[key.replace("loss", "perplexity")] = math.exp(metrics[key])
        items[key], weights[key] = losses, counts
    return metrics, items, weights, {"eval_tokens": num_tokens}


# --- the run -------------------------------------------------------------------------------------------------------


def run_name(preset: str, model_type: str, match_params: str | None, seed: int) -> str:
    arm = f"stock-matching-{match_params}" if match_params else model_type
    return f"{preset}-{arm}-seed{seed}"


def pretrain(args: argparse.Namespace, command: list[str]) -> Path:
    """Train one arm (resuming from its last checkpoint), evaluate it and write its record; returns the record."""
    from transformers import AutoTokenizer, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from ..data.corpus import load_tokens
    from ..evaluation.records import EvalRecord, config_hash
    from .language_modeling import lm_collator

    corpus = Path(args.corpus)
    out = Path(args.out)
    name = run_name(args.preset, args.model_type, args.match_params, args.seed)
    record_path, run_dir = out / f"{name}.json", out / name
    if record_path.exists() and not args.force:
        print(f"{record_path} exists (pass --force to rerun)")
        return record_path
    tokenizer = AutoTokenizer.from_pretrained(corpus / "tokenizer")
    causal = PRESETS[args.preset]["backbone"] != "bert"
    if args.match_params:
        if args.model_type != "stock":
            raise ValueError("--match-params widens the stock model: leave --model-type at stock.")
        target = parameter_counts(
            build_model(model_config(args.preset, tokenizer, args.seq_len, args.match_params), "meta")
        )
        width = matched_intermediate_size(args.preset, tokenizer, args.seq_len, target["total"])
        config = stock_config(args.preset, tokenizer, args.seq_len, intermediate_size=width)
    else:
        target = None
        config = model_config(args.preset, tokenizer, args.seq_len, args.model_type)
    set_seed(args.seed)
    model = build_model(config)
    counts = parameter_counts(model)
    print(f"{name}: {counts}")

    train_tokens = load_tokens(corpus / "tokens-train.npy.xz")
    dataset = WindowDataset(train_tokens, args.seq_len, args.seed)
    tokens_per_step = args.batch_size * args.gradient_accumulation_steps * args.seq_len
    max_steps = args.max_steps or max(1, args.tokens // tokens_per_step)
    if max_steps * args.batch_size * args.gradient_accumulation_steps > len(dataset):
        print(f"warning: {max_steps} steps take more windows than the {len(dataset)} available: data repeats")
    training_args = TrainingArguments(
        output_dir=str(run_dir),
        max_steps=max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(0.02 * max_steps)),
        weight_decay=0.1,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        logging_steps=args.logging_steps,
        save_steps=args.save_steps,
        save_total_limit=2,  # the newest checkpoint may be the one a kill left half-written
        seed=args.seed,
        bf16=args.bf16,
        dataloader_num_workers=0,
        report_to=[],
        use_cpu=args.cpu,
    )
    speed = TokensPerSecond(tokens_per_step)
    trainer = OrderedTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=lm_collator(tokenizer, mlm=not causal, seed=args.seed),
        callbacks=[speed],
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    last = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    result = trainer.train(resume_from_checkpoint=last)
    train_seconds = time.perf_counter() - start
    final_dir = run_dir / "final"
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(final_dir)

    val_tokens = load_tokens(corpus / "tokens-validation.npy.xz")
    metrics, items, weights, details = evaluate(
        model, tokenizer, val_tokens, args.seq_len, args.eval_windows, args.batch_size, causal, args.bf16
    )
    record = EvalRecord(
        task="pretrain_clm" if causal else "pretrain_mlm",
        model_path=str(final_dir),
        config_hash=config_hash(final_dir),
        seed=args.seed,
        budget={
            "preset": args.preset,
            "seq_len": args.seq_len,
            "batch_size": args.batch_size * args.gradient_accumulation_steps,
            "steps": max_steps,
            "tokens": max_steps * tokens_per_step,
            "learning_rate": args.learning_rate,
            "bf16": args.bf16,
        },
        metrics=metrics,
        items=items,
        weights=weights,
        training={
            "curve": speed.curve,
            "train_loss": result.training_loss,
            "seconds": train_seconds,
            "tokens_per_second": speed.tokens_per_second,
            "peak_memory_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
            "resumed_from": last,
        },
        details={
            **details,
            "parameters": counts,
            "matched_to": {"model_type": args.match_params, "parameters": target} if target else None,
            "intermediate_size": config.intermediate_size,
            "design_setting": dict(_active_setting(args.model_type)),
            "corpus": str(corpus),
            "command": command,
        },
        role="stock" if args.model_type == "stock" else "design",
        seconds=time.perf_counter() - start,
    )
    record.save(record_path)
    print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()) + f" -> {record_path}")
    return record_path


def _active_setting(model_type: str) -> dict:
    if model_type == "stock":
        return {}
    from ..registry import zoo_model_for_type

    return zoo_model_for_type(model_type).active_setting


# --- command line --------------------------------------------------------------------------------------------------

COMMANDS = ("pretrain", "corpus")


def add_subcommands(commands) -> None:
    from ..data import corpus

    corpus.add_arguments(commands.add_parser("corpus", help="build the packaged-text pretraining corpus"))
    parser = commands.add_parser("pretrain", help="pretrain a stock model or a design from scratch on the corpus")
    parser.add_argument("--corpus", default="outputs/corpus", help="folder written by `hf-archs corpus build`")
    parser.add_argument("--preset", required=True, choices=list(PRESETS))
    parser.add_argument("--model-type", default="stock", help="stock, or a zoo model type of the preset's backbone")
    parser.add_argument("--match-params", default=None, metavar="MODEL_TYPE", help="widen stock to this count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="records (<run>.json) and checkpoints (<run>/) go here")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=50_000_000, help="training tokens (steps = tokens / batch)")
    parser.add_argument("--max-steps", type=int, default=None, help="overrides --tokens")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--logging-steps", type=int, default=50)
    parser.add_argument("--save-steps", type=int, default=1000)
    parser.add_argument("--eval-windows", type=int, default=256, help="validation windows at the training length")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even where a GPU is present")
    parser.add_argument("--force", action="store_true", help="rerun although the record exists")


def run(args: argparse.Namespace) -> int:
    if args.command == "corpus":
        from ..data import corpus

        return corpus.run(args)
    pretrain(args, command_of(args))
    return 0


def command_of(args: argparse.Namespace) -> list[str]:
    """The `hf-archs pretrain` command line that repeats this run (every option spelled out)."""
    command = ["hf-archs", "pretrain"]
    for key, value in vars(args).items():
        if key == "command" or value is None or value is False:
            continue
        option = "--" + key.replace("_", "-")
        command += [option] if value is True else [option, str(value)]
    return command
