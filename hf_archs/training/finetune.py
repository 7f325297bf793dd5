"""`finetune_lora`: evaluate, LoRA fine-tune, evaluate, save, reload, merge, on a local Transformers model."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from peft import PeftModel
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from ..checkpoints import copy_auxiliary_files, load_tokenizer
from ..data import load_wordnet, wordnet_texts
from ..errors import UserError
from . import distributed
from .embedding import ContrastiveTrainer, DefinitionWordCollator, Pooling, evaluate_retrieval
from .language_modeling import (
    MNTPCollator,
    MNTPTrainer,
    evaluate_lm,
    evaluate_mntp,
    fixed_eval_batches,
    lm_collator,
    prepare_tokenizer,
    tokenize_texts,
)
from .lora import DesignParameterTrainer, apply_lora, count_parameters, default_lora_target_modules


TASKS = ("embedding", "mlm", "causal_lm", "mntp")
_AUTO_CLASSES = {
    "embedding": AutoModel,
    "mlm": AutoModelForMaskedLM,
    "causal_lm": AutoModelForCausalLM,
    "mntp": AutoModelForCausalLM,
}
_PEFT_TASK_TYPES = {"embedding": "FEATURE_EXTRACTION", "mlm": None, "causal_lm": "CAUSAL_LM", "mntp": "CAUSAL_LM"}
_EVAL_BATCH_SIZE = 64


@dataclass
class FinetuneReport:
    """What `finetune_lora` did and measured; also written to `output_dir/report.json`."""

    task: str
    model_path: str
    metric_names: list[str]
    before: dict[str, float]
    after: dict[str, float]
    reloaded: dict[str, float]
    trainable_parameters: int
    total_parameters: int
    lora_target_modules: list[str] | str
    design_modules_trained: list[str]
    adapter_dir: str
    merged_dir: str
    train_size: int
    eval_size: int
    max_steps: int
    batch_size: int
    learning_rate: float
    design_learning_rate: float | None
    seed: int
    train_loss: float
    seconds: float
    train_seconds: float = field(default=0.0)
    # [step, loss] pairs logged by Trainer (loss averaged over processes under DDP).
    loss_curve: list[list[float]] = field(default_factory=list)
    world_size: int = 1
    per_device_batch_size: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        """A short plain-text table of the metrics before and after fine-tuning."""
        lines = [
            f"{self.task} LoRA fine-tune of {self.model_path}",
            f"{self.max_steps} steps x batch {self.batch_size} on {self.train_size} train entries, "
            f"eval on {self.eval_size} held-out entries; trainable {self.trainable_parameters:,} of "
            f"{self.total_parameters:,} parameters; design modules trained: {self.design_modules_trained or 'none'}",
            f"{'metric':<12}{'before':>10}{'after':>10}{'reloaded':>10}{'change':>10}",
        ]
        for name in self.metric_names:
            before, after, reloaded = self.before[name], self.after[name], self.reloaded[name]
            lines.append(f"{name:<12}{before:>10.4f}{after:>10.4f}{reloaded:>10.4f}{after - before:>+10.4f}")
        lines.append(
            f"train loss {self.train_loss:.4f}; {self.train_seconds:.1f}s training, {self.seconds:.1f}s total"
        )
        return "\n".join(lines)


@dataclass
class _TaskSetup:
    """Everything task specific: training data, collator, trainer class and the held-out evaluation."""

    train_dataset: object
    data_collator: Callable
    evaluate: Callable[[nn.Module], dict[str, float]]
    metric_names: list[str]
    eval_size: int
    trainer_class: type[Trainer] = DesignParameterTrainer
    trainer_kwargs: dict = field(default_factory=dict)
    label_names: list[str] = field(default_factory=lambda: ["labels"])


def _embedding_setup(
    model_path: str,
    tokenizer: PreTrainedTokenizerBase,
    train_size: int | None,
    eval_size: int,
    exclude_words: Collection[str] = (),
    max_length: int = 128,
    eval_split: str = "test",
) -> _TaskSetup:
    pooling = Pooling.from_model_dir(model_path)
    eval_entries = load_wordnet(eval_split, limit=eval_size)
    train_dataset = load_wordnet("train", limit=train_size)
    if exclude_words:
        excluded = set(exclude_words)
        train_dataset = train_dataset.filter(lambda e: excluded.isdisjoint([e["word"], *e["lemmas"]]))
    return _TaskSetup(
        train_dataset=train_dataset,
        data_collator=DefinitionWordCollator(tokenizer, max_length),
        evaluate=lambda model: evaluate_retrieval(
            model, tokenizer, eval_entries, pooling, batch_size=_EVAL_BATCH_SIZE, max_length=max_length
        ),
        metric_names=["mrr", "recall@1", "recall@10"],
        eval_size=len(eval_entries),
        trainer_class=ContrastiveTrainer,
        trainer_kwargs={"pooling": pooling, "temperature": 0.05},
        label_names=[],
    )


def _language_modeling_setup(
    task: str,
    tokenizer: PreTrainedTokenizerBase,
    train_size: int | None,
    eval_size: int,
    seed: int,
    train_texts: list[str] | None = None,
    max_length: int = 128,
    mask_probability: float = 0.2,
    eval_split: str = "test",
) -> _TaskSetup:
    mlm = task == "mlm"
    prepare_tokenizer(tokenizer, mlm=mlm)
    eval_features = tokenize_texts(tokenizer, wordnet_texts(eval_split, limit=eval_size), max_length)
    if task == "mntp":
        # Fixed held-out masks (their own generator), as for MLM; training draws from a seeded stream.
        eval_collator = MNTPCollator(tokenizer, mask_probability, seed=seed)
        eval_batches = [
            eval_collator(eval_features[i : i + _EVAL_BATCH_SIZE])
            for i in range(0, len(eval_features), _EVAL_BATCH_SIZE)
        ]
        collator = MNTPCollator(tokenizer, mask_probability, seed=seed + 1)
        evaluate, trainer_class = (lambda model: evaluate_mntp(model, eval_batches, shard=True)), MNTPTrainer
    else:
        eval_batches = fixed_eval_batches(tokenizer, eval_features, mlm=mlm, batch_size=_EVAL_BATCH_SIZE, seed=seed)
        collator = lm_collator(tokenizer, mlm=mlm)
        evaluate, trainer_class = (
            (lambda model: evaluate_lm(model, eval_batches, causal=not mlm, shard=True)),
            DesignParameterTrainer,
        )
    if train_texts is None:
        train_texts = wordnet_texts("train", limit=train_size)
    elif train_size is not None:
        train_texts = train_texts[:train_size]
    return _TaskSetup(
        train_dataset=tokenize_texts(tokenizer, train_texts, max_length),
        data_collator=collator,
        evaluate=evaluate,
        metric_names=["loss", "perplexity"],
        eval_size=len(eval_features),
        trainer_class=trainer_class,
    )


def load_base_model(model_path: str, task: str, trust_remote_code: bool = False) -> nn.Module:
    """The model for `task` in float32 (LoRA on CPU, and a tight before/after/reload comparison)."""
    auto_class = _AUTO_CLASSES[task]
    model, info = auto_class.from_pretrained(
        model_path, dtype=torch.float32, trust_remote_code=trust_remote_code, output_loading_info=True
    )
    if task != "embedding" and info["missing_keys"]:
        # The LM tasks train through the model's head: a folder saved from a base model (BertModel, a
        # sentence-transformers folder, an untied decoder's base) has none, and a random one would train, then fail
        # the reload check. A tied head is the embedding matrix and is never missing.
        raise UserError(
            f"{model_path} has no {auto_class.__name__.removeprefix('AutoModelFor')} head for the {task!r} task "
            f"(missing weights {sorted(info['missing_keys'])[:4]}); use a checkpoint with that head, or "
            "task 'embedding' for an encoder saved without one."
        )
    return model


def _training_arguments(
    output_dir: Path,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    label_names: list[str],
    logging_steps: int | None = None,
) -> TrainingArguments:
    world_size = distributed.world_size()
    if batch_size % world_size:
        raise ValueError(f"`batch_size` {batch_size} (the global batch) must divide by the {world_size} processes.")
    return TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        max_steps=max_steps,
        # `batch_size` is the global batch: the same budget gives the same optimizer steps at any process count.
        per_device_train_batch_size=batch_size // world_size,
        learning_rate=learning_rate,
        warmup_steps=max_steps // 10,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        # torch's AdamW, unfused: the optimizer every stored comparison was trained with (the fused default of
        # torch >= 2.8 rounds differently).
        optim="adamw_torch",
        logging_steps=logging_steps or max(1, max_steps // 10),
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        # Our collators read raw columns (definition, word) that Trainer would otherwise drop.
        remove_unused_columns=False,
        label_names=label_names,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Several processes without CUDA: DDP over gloo on the CPU (see `distributed.py`).
        use_cpu=distributed.distributed_on_cpu(),
    )


def _check_reloaded(after: dict[str, float], reloaded: dict[str, float]) -> None:
    """The saved adapter must reproduce the trained model, else what we ship is not what we measured."""
    mismatched = {
        name: (after[name], reloaded[name])
        for name in after
        if not math.isclose(after[name], reloaded[name], rel_tol=1e-3, abs_tol=1e-4)
    }
    if mismatched:
        raise RuntimeError(f"The reloaded adapter does not reproduce the trained model's metrics: {mismatched}")


def _validate_arguments(task: str, max_steps: int, batch_size: int, train_size: int | None, eval_size: int) -> None:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    if max_steps < 1 or eval_size < 1 or (train_size is not None and train_size < 1):
        raise ValueError("`max_steps`, `eval_size` and `train_size` (when given) must be positive.")
    if batch_size < (2 if task == "embedding" else 1):
        raise ValueError(f"`batch_size` must be at least 2 for in-batch negatives, got {batch_size}.")


def finetune_lora(
    model_path: str,
    task: str,
    output_dir: str,
    *,
    max_steps: int = 60,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    design_learning_rate: float | None = 1e-2,
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_target_modules: str = "default",
    seed: int = 0,
    train_size: int | None = None,
    eval_size: int = 500,
    train_design_parameters: bool = True,
    trust_remote_code: bool = False,
    train_texts: list[str] | None = None,
    max_length: int = 128,
    logging_steps: int | None = None,
    exclude_words: Collection[str] = (),
    mask_probability: float = 0.2,
    eval_split: str = "test",
) -> FinetuneReport:
    """LoRA fine-tune a local Transformers model on the shipped WordNet corpus and measure it before and after.

    Args:
        model_path: a model folder (BERT family for `"embedding"`/`"mlm"`, Llama family for `"causal_lm"`); a
            sentence-transformers folder keeps its declared pooling (mean pooling when none is declared).
        task: `"embedding"` (contrastive definition -> word, scored by retrieval MRR / recall@k on the test split),
            `"mlm"` or `"causal_lm"` (language modelling on WordNet texts, scored by held-out loss / perplexity), or
            `"mntp"` (masked next-token prediction, LLM2Vec: a model with a causal LM head predicts each masked token
            from the output one position before it; see `MNTPCollator`; held-out loss over masked tokens).
        output_dir: receives `adapter/`, `merged/` (a full model with the LoRA weights merged) and `report.json`.
        max_steps, batch_size, learning_rate, seed: training budget and optimizer settings.
        design_learning_rate: learning rate of the design's new parameters (None: `learning_rate`).
        lora_r, lora_alpha: LoRA rank and scaling.
        lora_target_modules: "default" (PEFT's default target modules for the model type) or "all-linear".
        train_size: number of train entries to draw from (all when None); eval_size: held-out entries to check on.
        train_design_parameters: also train (and save with the adapter) modules marked `hf_archs_design_module`.
        trust_remote_code: passed to `from_pretrained`.
        train_texts: language-modelling tasks only: train on these texts instead of the WordNet train split (the
            held-out evaluation stays WordNet); `train_size` then keeps the first `train_size` of them.
        max_length: token length that training (and held-out) texts are truncated to.
        logging_steps: Trainer logging interval of the loss curve (default: a tenth of `max_steps`).
        exclude_words: `"embedding"` only: drop train entries whose word or any lemma is one of these (held-out
            items of another evaluation, e.g. analogy words).
        mask_probability: `"mntp"` only: the fraction of tokens masked.
        eval_split: the WordNet split of the before/after check (`"validation"` while settings are being chosen, so
            a search never reads the test split).

    Under `accelerate launch` / `torchrun` (DDP) `batch_size` stays the global batch (each process takes
    `batch_size / world_size`); only the main process writes files, every process reloads and checks the adapter.
    The embedding task's in-batch negatives are then those of each process's share of the batch.

    Returns:
        A `FinetuneReport`. Raises `RuntimeError` if the reloaded adapter does not reproduce the trained model.
    """
    _validate_arguments(task, max_steps, batch_size, train_size, eval_size)
    start = time.perf_counter()
    output_dir, model_dir = Path(output_dir), Path(model_path)
    # Everything is written beside the output first and moved into it once the run has succeeded: a failed run
    # leaves no half-written output (its staging folder is cleared by the next run).
    staging = output_dir.resolve().with_name(f".{output_dir.resolve().name}.partial")
    adapter_dir, merged_dir = staging / "adapter", staging / "merged"

    tokenizer = load_tokenizer(model_path, trust_remote_code)
    if task == "embedding":
        if train_texts is not None:
            raise ValueError("`train_texts` applies to the language-modelling tasks, not to 'embedding'.")
        setup = _embedding_setup(model_path, tokenizer, train_size, eval_size, exclude_words, max_length, eval_split)
    else:
        if exclude_words:
            raise ValueError("`exclude_words` applies to the 'embedding' task only.")
        setup = _language_modeling_setup(
            task, tokenizer, train_size, eval_size, seed, train_texts, max_length, mask_probability, eval_split
        )
    args = _training_arguments(staging, max_steps, batch_size, learning_rate, seed, setup.label_names, logging_steps)
    is_main = args.process_index == 0

    # 1. Baseline on held-out data. The model is loaded (and a missing head refused) before anything is written.
    model = load_base_model(model_path, task, trust_remote_code).to(args.device)
    if is_main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    distributed.process_state().wait_for_everyone()
    before = setup.evaluate(model)

    # 2-3. LoRA on PEFT's default targets (or every linear layer), plus the design's own new parameters.
    target_modules = default_lora_target_modules(model) if lora_target_modules == "default" else lora_target_modules
    set_seed(seed)  # LoRA's random init must not depend on what ran before

    def new_lora_model(base):
        return apply_lora(
            base,
            r=lora_r,
            alpha=lora_alpha,
            task_type=_PEFT_TASK_TYPES[task],
            train_design_parameters=train_design_parameters,
            target_modules=lora_target_modules,
        )

    model = new_lora_model(model)
    design_modules = list(model.peft_config["default"].modules_to_save or [])
    trainable, total = count_parameters(model)

    # 4. Train.
    trainer = setup.trainer_class(
        model=model,
        args=args,
        design_learning_rate=design_learning_rate,
        train_dataset=setup.train_dataset,
        data_collator=setup.data_collator,
        processing_class=tokenizer,
        **setup.trainer_kwargs,
    )
    train_start = time.perf_counter()
    train_output = trainer.train()
    train_seconds = time.perf_counter() - train_start
    # Trainer creates its output folder even when it saves nothing. Bug: a process removing it while another was
    # still finishing `train()` (which lists checkpoints there) crashed that one; remove it once all are done.
    distributed.process_state().wait_for_everyone()
    if is_main:
        with contextlib.suppress(OSError):
            Path(args.output_dir).rmdir()

    # 5. Held-out metrics after training. Under FSDP the parameters outside the wrapped layers stay sharded unless
    # the call goes through the FSDP root (which gathers them), so evaluate the wrapped model.
    after = setup.evaluate(trainer.model_wrapped if trainer.is_fsdp_enabled else model)

    loss_curve = [[entry["step"], entry["loss"]] for entry in trainer.state.log_history if "loss" in entry]

    # 6. Save the adapter, reload it onto a fresh base model, check it reproduces `after`, then merge.
    if trainer.is_fsdp_enabled:
        # FSDP shards the parameters: every process takes part in gathering the trained ones; the main process puts
        # them into an unsharded copy of the LoRA model and saves that (see `gathered_trainable_state` for why not
        # the FSDP state dict). Checked on 2 GPUs; accelerate runs FSDP on accelerators only, never on CPU.
        trained_state = distributed.gathered_trainable_state(trainer.model_wrapped)
        del trainer, model
        if is_main:
            copy = new_lora_model(load_base_model(model_path, task, trust_remote_code))
            distributed.load_trainable_state(copy, trained_state)
            copy.save_pretrained(adapter_dir)
            del copy
    else:
        if is_main:
            model.save_pretrained(adapter_dir)
        del trainer, model  # free the trained copy before loading a second one
    distributed.process_state().wait_for_everyone()  # the other processes reload what the main process wrote
    reloaded_model = PeftModel.from_pretrained(load_base_model(model_path, task, trust_remote_code), adapter_dir)
    reloaded_model.to(args.device)
    reloaded = setup.evaluate(reloaded_model)
    _check_reloaded(after, reloaded)
    merged = reloaded_model.merge_and_unload()
    if is_main:
        merged.save_pretrained(merged_dir)
        tokenizer.save_pretrained(merged_dir)
        if model_dir.is_dir():  # a sentence-transformers folder stays one (modules.json, 1_Pooling/, ...)
            copy_auxiliary_files(model_dir, merged_dir)

    # 7. Report.
    report = FinetuneReport(
        task=task,
        model_path=str(model_path),
        metric_names=setup.metric_names,
        before=before,
        after=after,
        reloaded=reloaded,
        trainable_parameters=trainable,
        total_parameters=total,
        lora_target_modules=target_modules,
        design_modules_trained=design_modules,
        adapter_dir=str(output_dir / adapter_dir.name),
        merged_dir=str(output_dir / merged_dir.name),
        train_size=len(setup.train_dataset),
        eval_size=setup.eval_size,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        design_learning_rate=design_learning_rate if design_modules else None,
        seed=seed,
        train_loss=train_output.training_loss,
        seconds=time.perf_counter() - start,
        train_seconds=train_seconds,
        loss_curve=loss_curve,
        world_size=args.world_size,
        per_device_batch_size=args.per_device_train_batch_size,
    )
    if is_main:
        report.save(staging / "report.json")
        _publish(staging, output_dir)
    distributed.process_state().wait_for_everyone()
    return report


def _publish(staging: Path, output_dir: Path) -> None:
    """Move what a finished run wrote (adapter/, merged/, report.json) into `output_dir`, replacing an earlier run's
    copies of those; anything else in `output_dir` stays."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for item in sorted(staging.iterdir()):
        target = output_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        item.rename(target)
    staging.rmdir()
