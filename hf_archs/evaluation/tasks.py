"""The task registry: name -> Task (which model kinds, which fine-tune objective, how it evaluates, its metrics).

A design declares the task names that apply to it; `get_tasks(names)` (or `TASKS[name]`) is the lookup.
Every task evaluates held-out items that are the same for every seed and model, and returns per-item values so
that a comparison can bootstrap over items.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

from ..checkpoints import load_tokenizer
from ..data import load_wordnet, wordnet_texts
from ..errors import UserError
from .budgets import Budget


ENCODER, DECODER = "encoder", "decoder"


@dataclass
class TaskResult:
    metrics: dict[str, float]
    items: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A named evaluation.

    Attributes:
        name: registry key.
        description: one line for tables and `--help`.
        model_kinds: `"encoder"` and/or `"decoder"`.
        objective: the `finetune_lora` task that `compare` trains with (`"embedding"`, `"mlm"`, `"causal_lm"`), or
            None when the task trains nothing (cost).
        metrics: metric name -> True when higher is better (for a budget-independent metric set).
        evaluate_fn: (model_path, budget, device, trust_remote_code) -> TaskResult.
        training_kwargs_fn: (tokenizer, budget, seed) -> extra `finetune_lora` keyword arguments (training data,
            sequence length) or None for the objective's defaults.
        derived: metric -> (item metric, transform): e.g. perplexity = exp(token-weighted mean loss).
        metrics_fn: budget -> metrics, where the metric set depends on the budget (length buckets).
        splits: the held-out splits it can evaluate (`Budget.eval_split`); a task without a validation split
            refuses a validation budget, so it cannot be searched on validation.
    """

    name: str
    description: str
    model_kinds: tuple[str, ...]
    objective: str | None
    metrics: dict[str, bool]
    evaluate_fn: Callable[..., TaskResult]
    training_kwargs_fn: Callable[..., dict] | None = None
    derived: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = field(default_factory=dict)
    metrics_fn: Callable[[Budget], dict[str, bool]] | None = None
    splits: tuple[str, ...] = ("test", "validation")

    def metric_directions(self, budget: Budget) -> dict[str, bool]:
        """Metric name -> higher is better, in table order."""
        return self.metrics_fn(budget) if self.metrics_fn else dict(self.metrics)

    def metric_names(self, budget: Budget) -> list[str]:
        return list(self.metric_directions(budget))

    def applies_to(self, kind: str) -> bool:
        return kind in self.model_kinds

    def check_split(self, budget: Budget) -> None:
        """Refuse a budget whose `eval_split` this task has no held-out data for (before anything is trained)."""
        if budget.eval_split not in self.splits:
            raise UserError(
                f"Task {self.name!r} has no {budget.eval_split} split (it evaluates on {'/'.join(self.splits)} "
                "only), so it cannot be evaluated or searched on it."
            )

    def evaluate(
        self, model_path: str | Path, budget: Budget, *, device: str | None = None, trust_remote_code: bool = False
    ) -> TaskResult:
        kind = model_kind(model_path)
        if not self.applies_to(kind):
            raise UserError(
                f"Task {self.name!r} applies to {'/'.join(self.model_kinds)} models; {model_path} is a {kind}."
            )
        self.check_split(budget)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        start = time.perf_counter()
        result = self.evaluate_fn(str(model_path), budget, device, trust_remote_code)
        result.details.setdefault("eval_seconds", time.perf_counter() - start)
        return result

    def training_kwargs(self, tokenizer, budget: Budget, seed: int) -> dict:
        return self.training_kwargs_fn(tokenizer, budget, seed) if self.training_kwargs_fn else {}


def model_kind(model_path: str | Path) -> str:
    """`"decoder"` for a causal LM, `"encoder"` for any other model (BERT-family models, and the base model of a
    decoder family, which the harness embeds with), from `config.json`: its architecture, or without one what its
    model type has (a zoo type's registry entry, a stock type's backbone)."""
    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{model_path} has no config.json")
    config = json.loads(config_file.read_text())
    architectures = config.get("architectures") or []
    if architectures:
        return DECODER if any(a.endswith("ForCausalLM") for a in architectures) else ENCODER
    return DECODER if _has_causal_lm(config.get("model_type", "")) else ENCODER


def _has_causal_lm(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from ..backbones import BACKBONES
    from ..registry import ZOO

    for entry in ZOO:
        if entry.model_type == model_type:
            return entry.is_decoder
    for backbone in BACKBONES.values():
        if model_type in backbone.source_model_types:
            return "AutoModelForCausalLM" in backbone.stock_classes
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES  # another stock family


def _load(auto_class, model_path: str, device: str, trust_remote_code: bool):
    tokenizer = load_tokenizer(model_path, trust_remote_code)
    model = auto_class.from_pretrained(model_path, dtype=torch.float32, trust_remote_code=trust_remote_code)
    return model.to(device).eval(), tokenizer


# --- encoders: definition -> word retrieval ------------------------------------------------------------------------


def _evaluate_retrieval(model_path, budget, device, trust_remote_code) -> TaskResult:
    from ..training.embedding import Pooling, retrieval_ranks

    model, tokenizer = _load(AutoModel, model_path, device, trust_remote_code)
    entries = load_wordnet(budget.eval_split, limit=budget.eval_size)
    pooling = Pooling.from_model_dir(model_path)
    ranks = retrieval_ranks(model, tokenizer, entries, pooling, 128, budget.seq_len).numpy()
    items = {"mrr": (1.0 / ranks).tolist(), "recall@1": (ranks <= 1).astype(float).tolist()}
    items["recall@10"] = (ranks <= 10).astype(float).tolist()
    return TaskResult({k: float(np.mean(v)) for k, v in items.items()}, items)


# --- encoders and decoders: WordNet word analogy ------------------------------------------------------------------


def _evaluate_analogy(model_path, budget, device, trust_remote_code) -> TaskResult:
    # Test only (`splits`): its items come from pairs of every WordNet split (`analogy.wordnet_analogy`), not from
    # the validation/test split files, so there is no validation set of analogies to choose settings on.
    from ..training.embedding import Pooling, encode
    from .analogy import analogy_ranks, wordnet_analogy

    model, tokenizer = _load(AutoModel, model_path, device, trust_remote_code)
    items, pairs, words = wordnet_analogy(budget.eval_size)
    vocabulary = sorted(words)
    pooling = Pooling.from_model_dir(model_path)
    embeddings = encode(model, tokenizer, vocabulary, pooling, 128, budget.seq_len, "encode words")
    ranks = np.array(analogy_ranks(embeddings, {w: i for i, w in enumerate(vocabulary)}, items, pairs))
    items_out = {"accuracy@1": (ranks <= 1).astype(float).tolist(), "mrr": (1.0 / ranks).tolist()}
    per_relation = {}
    for relation in pairs:
        hits = [r for item, r in zip(items, ranks, strict=True) if item.relation == relation]
        if hits:
            per_relation[relation] = {"items": len(hits), "accuracy@1": float(np.mean(np.array(hits) <= 1))}
    examples = [vars(item) | {"rank": int(r)} for item, r in zip(items[:5], ranks[:5], strict=True)]
    return TaskResult(
        {k: float(np.mean(v)) for k, v in items_out.items()},
        items_out,
        details={"per_relation": per_relation, "vocabulary": len(vocabulary), "examples": examples},
    )


def _analogy_training(tokenizer, budget: Budget, seed: int) -> dict:
    from .analogy import wordnet_analogy

    # The contrastive definition -> word objective, without any WordNet entry that names a held-out analogy word.
    return {"exclude_words": wordnet_analogy(budget.eval_size)[2], "max_length": budget.seq_len}


def _retrieval_training(tokenizer, budget: Budget, seed: int) -> dict:
    return {"max_length": budget.seq_len}


# --- held-out language-modelling loss ------------------------------------------------------------------------------


def _lm_result(model, tokenizer, budget, mlm: bool) -> TaskResult:
    from ..training.language_modeling import fixed_eval_batches, per_item_loss, prepare_tokenizer, tokenize_texts

    prepare_tokenizer(tokenizer, mlm=mlm)
    features = tokenize_texts(tokenizer, wordnet_texts(budget.eval_split, limit=budget.eval_size), budget.seq_len)
    # Masks are drawn with the budget's eval seed: the same masked tokens for every model and training seed.
    batches = fixed_eval_batches(
        tokenizer, features, mlm=mlm, batch_size=budget.eval_batch_size, seed=budget.eval_seed
    )
    losses, counts = per_item_loss(model, batches, causal=not mlm)
    loss = float(np.average(losses, weights=counts))
    return TaskResult({"loss": loss, "perplexity": math.exp(loss)}, {"loss": losses}, {"loss": counts})


def _evaluate_mlm(model_path, budget, device, trust_remote_code) -> TaskResult:
    model, tokenizer = _load(AutoModelForMaskedLM, model_path, device, trust_remote_code)
    return _lm_result(model, tokenizer, budget, mlm=True)


def _evaluate_perplexity(model_path, budget, device, trust_remote_code) -> TaskResult:
    model, tokenizer = _load(AutoModelForCausalLM, model_path, device, trust_remote_code)
    return _lm_result(model, tokenizer, budget, mlm=False)


def _lm_training(tokenizer, budget: Budget, seed: int) -> dict:
    return {"max_length": budget.seq_len}


# --- decoders: generated multi-step arithmetic ---------------------------------------------------------------------


def arithmetic_config(budget: Budget):
    from .arithmetic import ArithmeticConfig

    return ArithmeticConfig(steps=budget.arithmetic_steps, max_operand=budget.arithmetic_max_operand)


def _evaluate_arithmetic(model_path, budget, device, trust_remote_code) -> TaskResult:
    from .arithmetic import arithmetic_splits, evaluate_arithmetic

    model, tokenizer = _load(AutoModelForCausalLM, model_path, device, trust_remote_code)
    # Held-out problems and few-shot examples are fixed (seed 0 split), whatever the training seed.
    shots_pool, test = arithmetic_splits(
        max(budget.arithmetic_shots, 1),
        budget.arithmetic_eval_size,
        arithmetic_config(budget),
        seed=0,
        split=budget.eval_split,
    )
    out = evaluate_arithmetic(
        model,
        tokenizer,
        test,
        shots_pool[: budget.arithmetic_shots],
        max_new_tokens=budget.arithmetic_max_new_tokens,
        batch_size=budget.eval_batch_size,
    )
    examples = [
        {"question": p.question, "answer": p.answer, "completion": c}
        for p, c in zip(test[:5], out["completions"][:5], strict=False)
    ]
    return TaskResult(out["metrics"], out["items"], details={"examples": examples})


def _arithmetic_training(tokenizer, budget: Budget, seed: int) -> dict:
    from .arithmetic import arithmetic_splits

    train, _ = arithmetic_splits(
        budget.arithmetic_train_size,
        budget.arithmetic_eval_size,
        arithmetic_config(budget),
        seed=seed,
        split=budget.eval_split,
    )
    return {"train_texts": [p.text() for p in train], "max_length": budget.seq_len}


# --- decoders: length extrapolation --------------------------------------------------------------------------------


def _extrapolation_metrics(budget: Budget) -> dict[str, bool]:
    return {f"loss@{f}x": False for f in budget.extrapolation_factors}


def extrapolation_tokens(budget: Budget) -> int:
    """Held-out tokens: the same text for every length bucket (windows at the longest length: eval_size / 50)."""
    return max(2, budget.eval_size // 50) * max(budget.extrapolation_factors) * budget.seq_len


def _evaluate_extrapolation(model_path, budget, device, trust_remote_code) -> TaskResult:
    from ..training.language_modeling import per_item_loss
    from .lm import token_stream, window_batches

    model, tokenizer = _load(AutoModelForCausalLM, model_path, device, trust_remote_code)
    ids = token_stream(tokenizer, wordnet_texts(budget.eval_split), extrapolation_tokens(budget))
    metrics, items, weights, per_length = {}, {}, {}, {}
    for factor in budget.extrapolation_factors:
        length = factor * budget.seq_len
        batch_size = max(1, budget.eval_batch_size // factor)
        losses, counts = per_item_loss(model, window_batches(ids, length, batch_size), True, f"eval @{length}")
        name = f"loss@{factor}x"
        metrics[name] = float(np.average(losses, weights=counts))
        items[name], weights[name] = losses, counts
        per_length[str(length)] = {
            "loss": metrics[name],
            "perplexity": math.exp(metrics[name]),
            "windows": len(losses),
        }
    return TaskResult(metrics, items, weights, {"per_length": per_length, "train_length": budget.seq_len})


def _extrapolation_training(tokenizer, budget: Budget, seed: int) -> dict:
    from .lm import chunked_texts

    texts = chunked_texts(wordnet_texts("train"), tokenizer, budget.seq_len, budget.steps * budget.batch_size)
    return {"train_texts": texts, "max_length": budget.seq_len}


# --- cost ---------------------------------------------------------------------------------------------------------


def _evaluate_cost(model_path, budget, device, trust_remote_code) -> TaskResult:
    from .cost import measure_model_cost

    metrics = measure_model_cost(model_path, budget, device, trust_remote_code)
    return TaskResult(metrics)


_PERPLEXITY = {"perplexity": ("loss", np.exp)}

TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f"Task {task.name!r} is already registered.")
    TASKS[task.name] = task
    return task


for _task in (
    Task(
        "retrieval",
        "WordNet definition -> word retrieval over the held-out words (cosine of pooled embeddings)",
        (ENCODER,),
        "embedding",
        {"mrr": True, "recall@1": True, "recall@10": True},
        _evaluate_retrieval,
        _retrieval_training,
    ),
    Task(
        "analogy",
        "WordNet derivation / antonym analogies a:b :: c:?, vector offset over pooled word embeddings",
        (ENCODER, DECODER),
        "embedding",
        {"accuracy@1": True, "mrr": True},
        _evaluate_analogy,
        _analogy_training,
        splits=("test",),
    ),
    Task(
        "mlm",
        "held-out masked-LM loss on WordNet test texts (15% masked, fixed masks)",
        (ENCODER,),
        "mlm",
        {"loss": False, "perplexity": False},
        _evaluate_mlm,
        _lm_training,
        _PERPLEXITY,
    ),
    Task(
        "perplexity",
        "held-out causal-LM loss / perplexity on WordNet test texts",
        (DECODER,),
        "causal_lm",
        {"loss": False, "perplexity": False},
        _evaluate_perplexity,
        _lm_training,
        _PERPLEXITY,
    ),
    Task(
        "arithmetic",
        "generated multi-step arithmetic, few-shot greedy generate(), exact match of the final answer",
        (DECODER,),
        "causal_lm",
        {"accuracy": True},
        _evaluate_arithmetic,
        _arithmetic_training,
    ),
    Task(
        "extrapolation",
        "train at seq_len L on concatenated WordNet text, held-out loss at 1x/2x/4x/8x L",
        (DECODER,),
        "causal_lm",
        {},
        _evaluate_extrapolation,
        _extrapolation_training,
        metrics_fn=_extrapolation_metrics,
    ),
    Task(
        "cost",
        "training and inference tokens/s and peak memory (compare: design / stock ratios, same process)",
        (ENCODER, DECODER),
        None,
        {
            "train_tokens_per_s": True,
            "infer_tokens_per_s": True,
            "train_peak_memory_mb": False,
            "infer_peak_memory_mb": False,
        },
        _evaluate_cost,
        splits=("test",),  # measures speed and memory: no held-out data, nothing to choose on validation
    ),
):
    register_task(_task)


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"Unknown task {name!r}; expected one of {', '.join(TASKS)}.") from None


def get_tasks(names: list[str] | tuple[str, ...]) -> list[Task]:
    """The one-line lookup for a design's declared task names."""
    return [get_task(name) for name in names]


def tasks_for(kind: str) -> list[Task]:
    """Tasks that apply to `"encoder"` or `"decoder"` models."""
    return [task for task in TASKS.values() if task.applies_to(kind)]
