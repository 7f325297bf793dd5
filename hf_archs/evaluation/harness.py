"""`evaluate` (one model folder on one task) and `compare` (a design vs its stock source, same budget, >= 3 seeds).

Layout of a comparison (`<out>/<name>/<task>-<budget>-<key>/`):

    run.json                 what is compared, with which budget, and the command that reproduces it
    comparison.json          statistics over seeds (see stats.py), per-seed metrics, costs, versions
    comparison.md            the generated table (what model cards include and link the plot from)
    comparison.png           metric per seed with means and intervals, training-loss curves (and metric vs length)
    records.json.xz          every EvalRecord (per-item values included) under its seed_<s>/<role>.json name
    seed_<s>/stock.json      one EvalRecord per seed and role, written as it finishes: a finished seed is never
    seed_<s>/design.json     re-run (git-ignored: the archive above keeps them)
    cost.json                design vs stock cost, measured once in one process (git-ignored: comparison.json
                             keeps it)
    work/                    adapters and merged models of the runs (git-ignored; deleted unless keep_models)

`<key>` hashes the budget (minus its seeds), the task and both models' configs and paths (and stock's budget where
it differs): a changed budget is a different run; more seeds of the same budget reuse the finished ones.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import load_tokenizer
from ..errors import UserError
from ..training import finetune_lora
from .budgets import BUDGETS, TRAINING_FIELDS, Budget, get_budget
from .records import (
    RECORDS_ARCHIVE,
    EvalRecord,
    config_hash,
    now_utc,
    pack_records,
    record_name,
    run_records,
    weights_hash,
    write_json,
)
from .stats import VERDICT_RULE, MetricComparison, compare_metric, family_confidence
from .tasks import Task, get_task, model_kind


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def _state():
    """accelerate's process state (initializes torch.distributed under `accelerate launch` / `torchrun`)."""
    from ..training.distributed import process_state

    return process_state()


# --- evaluate one model --------------------------------------------------------------------------------------------


def evaluate(
    model_path: str | Path,
    task: str | Task,
    budget: str | Budget = "laptop",
    *,
    seed: int = 0,
    output: str | Path | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> EvalRecord:
    """Evaluate a model folder as it is (no training) on a named task; write the record to `output` if given."""
    task, budget = (get_task(task) if isinstance(task, str) else task), get_budget(budget)
    start = time.perf_counter()
    result = task.evaluate(model_path, budget, device=device, trust_remote_code=trust_remote_code)
    record = _record(task, model_path, seed, budget, result, start)
    if output is not None:
        record.save(output)
    return record


def _record(task: Task, model_path, seed: int, budget: Budget, result, start: float, **extra) -> EvalRecord:
    """The record of one evaluation `result` of `model_path` (extra: training details and role, in comparisons)."""
    return EvalRecord(
        task=task.name,
        model_path=str(model_path),
        config_hash=config_hash(model_path),
        weights_hash=weights_hash(model_path),
        seed=seed,
        budget=budget.to_dict(),
        metrics=result.metrics,
        items=result.items,
        weights=result.weights,
        cost={"eval_seconds": result.details.get("eval_seconds")},
        details=result.details,
        seconds=time.perf_counter() - start,
        **extra,
    )


# --- compare a design with its stock model -------------------------------------------------------------------------


# Config fields that a conversion copies from the source unchanged: a design and its source agree on all of them.
_EMBEDDING_NAMES = ("embed_tokens.weight", "word_embeddings.weight")
_SHARED_CONFIG_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")


def check_stock_source(design: str | Path, stock: str | Path) -> None:
    """Refuse a `stock` folder that is not the design's source: their shared config sizes must agree and, where both
    hold safetensors, their token embeddings must be equal (conversion copies them; LoRA training leaves them)."""
    from safetensors import safe_open

    configs = {
        role: json.loads((Path(path) / "config.json").read_text())
        for role, path in (("design", design), ("stock", stock))
    }
    differing = {
        key: (configs["design"].get(key), configs["stock"].get(key))
        for key in _SHARED_CONFIG_KEYS
        if configs["design"].get(key) != configs["stock"].get(key)
    }
    if differing:
        raise UserError(
            f"{stock} is not the stock source of {design}: their configs differ in {differing} (design, stock)."
        )
    tensors = {}
    for role, path in (("design", design), ("stock", stock)):
        files = sorted(Path(path).glob("*.safetensors"))
        tensors[role] = {}
        for file in files:
            with safe_open(file, framework="pt") as handle:
                tensors[role].update({name: file for name in handle.keys()})
    if not tensors["design"] or not tensors["stock"]:
        return  # a .bin checkpoint: the config check above is all that is read cheaply
    values = []
    for role in ("design", "stock"):  # the token embeddings, whatever prefix the head class gives their name
        name = next((n for n in sorted(tensors[role]) if n.endswith(_EMBEDDING_NAMES)), None)
        if name is None:
            return  # a family whose embeddings have another name: the config check above is all there is
        with safe_open(tensors[role][name], framework="pt") as handle:
            values.append(handle.get_tensor(name).float())
    if values[0].shape != values[1].shape or not torch.equal(*values):
        raise UserError(
            f"{stock} is not the stock source of {design}: their token embeddings differ, so the design was not "
            "converted from it."
        )


def check_pair(task: Task, budget: Budget, design: str, stock: str, seeds: list[int]) -> None:
    """Refuse what a comparison (or a search before it) cannot run, before anything is trained."""
    task.check_split(budget)
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise UserError(
            f"A comparison needs at least 2 distinct seeds (3 or more for a useful interval), got {seeds}."
        )
    kinds = {model_kind(design), model_kind(stock)}
    if len(kinds) != 1 or not task.applies_to(next(iter(kinds))):
        raise UserError(f"Task {task.name!r} ({'/'.join(task.model_kinds)}) does not apply to models of kind {kinds}.")
    check_stock_source(design, stock)


def run_key(task: Task, budget: Budget, design_path, stock_path, stock_budget: Budget | None = None) -> str:
    identity = {
        "task": task.name,
        "budget": budget.training_dict(),
        "design": [str(Path(design_path).resolve()), config_hash(design_path)],
        "stock": [str(Path(stock_path).resolve()), config_hash(stock_path)],
    }
    # Only where stock's budget differs, so that the keys (and folders) of same-budget runs stay what they were.
    if stock_budget is not None and stock_budget.training_dict() != budget.training_dict():
        identity["stock_budget"] = stock_budget.training_dict()
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]


def budget_arguments(budget: Budget, stored_in: str) -> list[str]:
    """`--budget NAME` for a named budget as it is, else `--budget-json` pointing at the file that stores it."""
    if BUDGETS.get(budget.name) is not None and BUDGETS[budget.name].training_dict() == budget.training_dict():
        return ["--budget", budget.name]
    return ["--budget-json", f"<{stored_in} budget>"]


def reproduce_command(design, stock, task: Task, budget: Budget, out, name, seeds, stock_budget=None) -> str:
    parts = ["hf-archs", "compare", "--design", str(design), "--stock", str(stock), "--task", task.name]
    parts += budget_arguments(budget, "run.json")
    if stock_budget is not None and stock_budget.training_dict() != budget.training_dict():
        parts += ["--stock-budget-json", "<run.json stock_budget>"]
    parts += ["--out", str(out), "--name", name]
    if budget.name in BUDGETS and tuple(seeds) != BUDGETS[budget.name].seeds:
        parts += ["--seeds", ",".join(str(s) for s in seeds)]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass
class Comparison:
    name: str
    task: str
    run_dir: Path
    budget: Budget
    seeds: list[int]
    metrics: list[MetricComparison]
    cost: dict | None
    command: str
    markdown: str
    reused_seeds: list[int]
    trained_seeds: list[int]
    stock_budget: Budget | None = None  # where stock was trained with other settings (None: `budget`)

    def metric(self, name: str) -> MetricComparison:
        return next(m for m in self.metrics if m.metric == name)


def _train_and_evaluate(
    task: Task, role: str, model_path: str, budget: Budget, seed: int, work_dir: Path, device, trust_remote_code
) -> EvalRecord | None:
    """Fine-tune with the budget (every process under DDP), then evaluate on the main process (None elsewhere)."""
    task.check_split(budget)  # before training: a task without this split would fail only after it
    start = time.perf_counter()
    training, eval_path, train_path = {}, model_path, model_path
    if task.objective is not None and budget.mntp_steps:
        train_path, training["mntp"] = _mntp_stage(model_path, budget, seed, work_dir / "mntp", trust_remote_code)
    if task.objective is not None:
        tokenizer = load_tokenizer(train_path, trust_remote_code)
        report = finetune_lora(
            train_path,
            task.objective,
            str(work_dir),
            max_steps=budget.steps,
            **lora_settings(budget, seed),
            # finetune_lora's own before/after/reload check on a WordNet subset; the task's evaluation follows.
            eval_size=min(budget.eval_size, 128),
            trust_remote_code=trust_remote_code,
            logging_steps=max(1, budget.steps // 50),
            **task.training_kwargs(tokenizer, budget, seed),
        )
        eval_path = report.merged_dir
        training |= {
            "objective": task.objective,
            "loss_curve": report.loss_curve,
            "train_loss": report.train_loss,
            "train_seconds": report.train_seconds,
            "trainable_parameters": report.trainable_parameters,
            "total_parameters": report.total_parameters,
            "design_modules_trained": report.design_modules_trained,
            "world_size": report.world_size,
            "finetune_check": {"before": report.before, "after": report.after, "reloaded": report.reloaded},
        }
    if not _state().is_main_process:
        return None
    result = task.evaluate(eval_path, budget, device=device, trust_remote_code=trust_remote_code)
    return _record(task, model_path, seed, budget, result, start, training=training, role=role)


def lora_settings(budget: Budget, seed: int) -> dict:
    """The `finetune_lora` settings every training stage of a run takes from the budget."""
    return {
        "batch_size": budget.batch_size,
        "learning_rate": budget.learning_rate,
        "design_learning_rate": budget.design_learning_rate,
        "lora_r": budget.lora_r,
        "lora_alpha": budget.lora_alpha,
        "lora_target_modules": budget.lora_target_modules,
        "seed": seed,
        "train_size": budget.train_size,
        "eval_split": budget.eval_split,  # finetune_lora's own check reads the split the run is evaluated on
    }


def _mntp_stage(model_path: str, budget: Budget, seed: int, work_dir: Path, trust_remote_code) -> tuple[str, dict]:
    """Masked next-token prediction before the task's training (LLM2Vec's first stage): LoRA with the budget's
    rank, batch and learning rate for `budget.mntp_steps` steps on WordNet train texts, merged into the model; the
    task's own LoRA is then trained on the merged model (LLM2Vec also merges MNTP before its contrastive stage).
    Needs a model that loads with a causal LM head (a decoder, or a base model whose weights include one, tied).

    Returns the merged model folder and what the stage measured (held-out masked-token loss before and after)."""
    report = finetune_lora(
        model_path,
        "mntp",
        str(work_dir),
        max_steps=budget.mntp_steps,
        **lora_settings(budget, seed),
        eval_size=min(budget.eval_size, 16),  # a check only: the LM head over a large vocabulary is costly
        trust_remote_code=trust_remote_code,
        max_length=budget.seq_len,
        logging_steps=1,
        mask_probability=budget.mntp_probability,
    )
    details = {
        "steps": budget.mntp_steps,
        "mask_probability": budget.mntp_probability,
        "loss_curve": report.loss_curve,
        "train_loss": report.train_loss,
        "train_seconds": report.train_seconds,
        "check": {"before": report.before, "after": report.after, "reloaded": report.reloaded},
    }
    return report.merged_dir, details


def _load_record(records: dict[str, EvalRecord], seed: int, role: str, budget: Budget) -> EvalRecord | None:
    """A stored record (of `run_records`) if it exists and was made with this budget (anything else is re-run, never
    trusted)."""
    record = records.get(record_name(seed, role))
    if record is None or Budget.from_dict(record.budget).training_dict() != budget.training_dict():
        return None
    return record


# Library versions that change what a run computes; a record made under others is not reused elsewhere.
_REUSE_VERSION_KEYS = ("torch", "transformers", "peft", "accelerate", "hf_archs", "hf_archs_commit", "device")


def reusable_stock_record(
    out: Path, run_dir: Path, task: Task, budget: Budget, stock, seed: int
) -> tuple[str, EvalRecord] | None:
    """A finished stock record of another comparison under `out` that this run would reproduce, with where it lies:
    same task, seed and budget (what it computes), the same stock folder (path, config and weights hashes) and library
    versions. The stock side of comparisons that share a stock model (several designs against one source) then trains
    once."""
    from .records import library_versions

    stock_path = Path(stock).resolve()
    wanted = {"config_hash": config_hash(stock), "weights_hash": weights_hash(stock)}
    if not wanted["weights_hash"]:
        return None
    versions = {key: library_versions().get(key) for key in _REUSE_VERSION_KEYS}
    for other in sorted(Path(out).glob(f"*/{task.name}-*/")):
        if other.resolve() == Path(run_dir).resolve():
            continue
        records = run_records(other)
        record = _load_record(records, seed, "stock", budget)
        if (
            record is not None
            and record.task == task.name
            and record.seed == seed
            and Path(record.model_path).resolve() == stock_path
            and {"config_hash": record.config_hash, "weights_hash": record.weights_hash} == wanted
            and {key: record.versions.get(key) for key in _REUSE_VERSION_KEYS} == versions
            and not record.details.get("reused_from")
        ):
            path = other / record_name(seed, "stock")
            return str(path if path.is_file() else f"{other / RECORDS_ARCHIVE}:{record_name(seed, 'stock')}"), record
    return None


def compare(
    design: str | Path,
    stock: str | Path,
    task: str | Task,
    budget: str | Budget = "laptop",
    *,
    out: str | Path = "results",
    name: str | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    device: str | None = None,
    progress: bool = True,
    keep_models: bool = False,
    trust_remote_code: bool = False,
    plot: bool = True,
    stock_budget: str | Budget | None = None,
    selection: dict | None = None,
) -> Comparison:
    """Fine-tune and evaluate `design` and `stock` under the same budget for every seed; aggregate; write files.

    Each seed trains both models with identical settings (LoRA rank/targets, steps, batch, learning rates, data
    order, LoRA init seed); records are stored per seed and reused on a rerun. Runs unchanged under
    `accelerate launch` (training on every process, evaluation and files on the main process).

    `stock_budget` trains stock with other values of the training fields (`budgets.TRAINING_FIELDS`), e.g. the
    learning rate a validation search chose for stock (`search.py`); the evaluation stays the design budget's.
    `selection` (how the budgets were chosen) is stored in run.json and comparison.json.
    """
    task, budget = (get_task(task) if isinstance(task, str) else task), get_budget(budget)
    stock_budget = budget if stock_budget is None else get_budget(stock_budget)
    other = sorted(set(budget.differences(stock_budget)) - set(TRAINING_FIELDS))
    if other:
        raise UserError(
            f"The stock budget may differ from the design's only in training settings {list(TRAINING_FIELDS)}; it "
            f"differs in {other}."
        )
    budgets = {"design": budget, "stock": stock_budget}
    design, stock = str(design), str(stock)
    seeds = list(seeds if seeds is not None else budget.seeds)
    check_pair(task, budget, design, stock, seeds)
    name = name or f"{Path(design).name}-vs-{Path(stock).name}"
    run_dir = Path(out) / name / f"{task.name}-{budget.name}-{run_key(task, budget, design, stock, stock_budget)}"
    command = reproduce_command(design, stock, task, budget, out, name, seeds, stock_budget)
    state = _state()

    if state.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(
            run_dir / "run.json",
            {
                "name": name,
                "task": task.name,
                "design": design,
                "stock": stock,
                "design_config_hash": config_hash(design),
                "stock_config_hash": config_hash(stock),
                "budget": budget.to_dict(),
                "budget_fingerprint": budget.fingerprint(),
                "stock_budget": stock_budget.to_dict(),
                "stock_budget_fingerprint": stock_budget.fingerprint(),
                "command": command,
                "created": now_utc(),
            }
            | ({"selection": selection} if selection is not None else {}),
        )
    # Decide what to run before anything is written, so every process agrees (DDP).
    stored = run_records(run_dir)
    todo = [
        (seed, role, path)
        for seed in seeds
        for role, path in (("stock", stock), ("design", design))
        if _load_record(stored, seed, role, budgets[role]) is None
    ]
    # Stock runs that another comparison under `out` already made with this budget are copied, not retrained.
    reused_stock = {}
    for seed, role, _ in todo:
        if role != "stock":
            continue
        source = reusable_stock_record(Path(out), run_dir, task, stock_budget, stock, seed)
        if source is not None:
            reused_stock[seed] = source
    todo = [(seed, role, path) for seed, role, path in todo if not (role == "stock" and seed in reused_stock)]
    state.wait_for_everyone()
    if state.is_main_process:
        for seed, (source, record) in reused_stock.items():
            record.details["reused_from"] = source
            record.save(run_dir / record_name(seed, "stock"))
    state.wait_for_everyone()
    trained_seeds = sorted({seed for seed, _, _ in todo})
    for seed, role, path in _progress(todo, progress, desc=f"compare {task.name} ({budget.name})", unit="run"):
        work_dir = run_dir / "work" / f"seed_{seed}" / role
        record = _train_and_evaluate(task, role, path, budgets[role], seed, work_dir, device, trust_remote_code)
        if record is not None:
            record.save(run_dir / record_name(seed, role))
            if not keep_models:
                shutil.rmtree(work_dir, ignore_errors=True)
        state.wait_for_everyone()

    cost = None
    if state.is_main_process:
        cost = _cost(run_dir, design, stock, budget, device, trust_remote_code)
    comparison = None
    if state.is_main_process:
        pack_records(run_dir)
        stored = run_records(run_dir)
        records = {role: [stored[record_name(s, role)] for s in seeds] for role in ("stock", "design")}
        metrics = aggregate(task, budget, records["design"], records["stock"])
        from .report import comparison_markdown

        comparison = Comparison(
            name=name,
            task=task.name,
            run_dir=run_dir,
            budget=budget,
            seeds=seeds,
            metrics=metrics,
            cost=cost,
            command=command,
            markdown="",
            reused_seeds=[s for s in seeds if s not in trained_seeds],
            trained_seeds=trained_seeds,
            stock_budget=stock_budget,
        )
        comparison.markdown = comparison_markdown(comparison, design, stock)
        data = comparison_dict(comparison, design, stock, records)
        write_json(run_dir / "comparison.json", data | ({"selection": selection} if selection is not None else {}))
        (run_dir / "comparison.md").write_text(comparison.markdown + "\n")
        if plot:
            from .plots import plot_comparison

            plot_comparison(run_dir / "comparison.png", comparison, records, task)
    state.wait_for_everyone()
    return comparison


def train_and_evaluate(
    model: str | Path,
    task: str | Task,
    budget: str | Budget = "laptop",
    *,
    out: str | Path = "results",
    name: str | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """One model fine-tuned and evaluated under a budget for every seed, exactly as `compare` trains each side (for a
    reference model that has no paired stock or design, e.g. a different architecture reported beside a
    comparison: its rows are unpaired). Single process.

    Files: `<out>/<name>/<task>-<budget>-<key>/run.json`, `seed_<s>/model.json` (one `EvalRecord` per seed, reused on
    a rerun; all of them in `records.json.xz`, what the repository keeps) and `summary.json` (mean ± std per metric).
    Returns the summary."""
    from .stats import mean_std

    task, budget = (get_task(task) if isinstance(task, str) else task), get_budget(budget)
    model = str(model)
    seeds = list(seeds if seeds is not None else budget.seeds)
    if not task.applies_to(model_kind(model)):
        raise UserError(f"Task {task.name!r} ({'/'.join(task.model_kinds)}) does not apply to {model}.")
    name = name or Path(model).name
    identity = {"task": task.name, "budget": budget.training_dict(), "model": [str(Path(model).resolve())]}
    identity["model"].append(config_hash(model))
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    run_dir = Path(out) / name / f"{task.name}-{budget.name}-{key}"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        run_dir / "run.json",
        {"name": name, "task": task.name, "model": model, "model_config_hash": config_hash(model)}
        | {"budget": budget.to_dict(), "budget_fingerprint": budget.fingerprint(), "created": now_utc()},
    )
    records, stored = [], run_records(run_dir)
    for seed in seeds:
        record = _load_record(stored, seed, "model", budget)
        if record is None:
            work_dir = run_dir / "work" / f"seed_{seed}"
            record = _train_and_evaluate(task, "model", model, budget, seed, work_dir, device, trust_remote_code)
            record.save(run_dir / record_name(seed, "model"))
            shutil.rmtree(work_dir, ignore_errors=True)
        records.append(record)
    pack_records(run_dir)
    summary = {
        "name": name,
        "task": task.name,
        "model": model,
        "seeds": seeds,
        "budget": budget.to_dict(),
        "metrics": {
            metric: dict(zip(("mean", "std"), mean_std([r.metrics[metric] for r in records]), strict=True))
            | {"values": [r.metrics[metric] for r in records]}
            for metric in task.metric_names(budget)
        },
    }
    write_json(run_dir / "summary.json", summary)
    return summary


def _cost(run_dir: Path, design, stock, budget, device, trust_remote_code) -> dict | None:
    path = run_dir / "cost.json"
    if path.is_file():
        return json.loads(path.read_text())
    comparison = run_dir / "comparison.json"  # what the repository keeps of cost.json
    if comparison.is_file() and json.loads(comparison.read_text()).get("cost"):
        return json.loads(comparison.read_text())["cost"]
    import torch

    from .cost import compare_cost

    cost = compare_cost(
        design, stock, budget, device or ("cuda" if torch.cuda.is_available() else "cpu"), trust_remote_code
    )
    write_json(path, cost)
    return cost


def aggregate(task: Task, budget: Budget, design: list[EvalRecord], stock: list[EvalRecord]) -> list[MetricComparison]:
    """Per metric: mean ± std over seeds, t-interval over seed differences, paired bootstrap over items; the metrics
    are judged together (`stats.VERDICT_RULE`: each interval at the Bonferroni-corrected confidence)."""
    directions = task.metric_directions(budget)
    confidence = family_confidence(budget.confidence, len(directions))
    out = []
    for metric, higher in directions.items():
        source, transform = task.derived.get(metric, (metric, None))
        items = {}
        if all(source in r.items for r in design + stock):
            items = dict(
                design_items=np.array([r.items[source] for r in design]),
                stock_items=np.array([r.items[source] for r in stock]),
            )
            if all(source in r.weights for r in design + stock):
                items["design_weights"] = np.array([r.weights[source] for r in design])
                items["stock_weights"] = np.array([r.weights[source] for r in stock])
        out.append(
            compare_metric(
                metric,
                higher,
                [r.metrics[metric] for r in design],
                [r.metrics[metric] for r in stock],
                transform=transform,
                confidence=confidence,
                resamples=budget.bootstrap_resamples,
                seed=budget.eval_seed,
                **items,
            )
        )
    return out


def comparison_dict(comparison: Comparison, design: str, stock: str, records: dict) -> dict:
    return {
        "name": comparison.name,
        "task": comparison.task,
        "design": design,
        "stock": stock,
        "seeds": comparison.seeds,
        "budget": comparison.budget.to_dict(),
        "stock_budget": (comparison.stock_budget or comparison.budget).to_dict(),
        "command": comparison.command,
        "metrics": [m.to_dict() for m in comparison.metrics],
        "shown_interval": "paired bootstrap over held-out items where per-item values exist, else t over seeds",
        "verdict_rule": VERDICT_RULE,
        "cost": comparison.cost,
        "training": {
            role: {
                str(r.seed): {k: r.training.get(k) for k in ("train_loss", "train_seconds", "trainable_parameters")}
                for r in records[role]
            }
            for role in records
        },
        "details": {role: {str(r.seed): _small(r.details) for r in records[role]} for role in records},
        "versions": {role: {str(r.seed): r.versions for r in records[role]} for role in records},
        "time": now_utc(),
    }


def _small(details: dict) -> dict:
    return {k: v for k, v in details.items() if k != "examples"}


def rejudge(run_dir: str | Path, *, plot: bool = True) -> Comparison:
    """Recompute a stored comparison's statistics and verdicts from its per-seed records under the current rule
    (`stats.VERDICT_RULE`), rewriting `comparison.json`, `comparison.md` (and the plot, whose labels carry the
    verdicts); nothing is trained or evaluated."""
    from .report import comparison_markdown

    run_dir = Path(run_dir)
    stored = json.loads((run_dir / "comparison.json").read_text())
    task, budget = get_task(stored["task"]), Budget.from_dict(stored["budget"])
    archived = run_records(run_dir)
    records = {role: [archived[record_name(s, role)] for s in stored["seeds"]] for role in ("stock", "design")}
    comparison = Comparison(
        name=stored["name"],
        task=task.name,
        run_dir=run_dir,
        budget=budget,
        seeds=stored["seeds"],
        metrics=aggregate(task, budget, records["design"], records["stock"]),
        cost=stored.get("cost"),
        command=stored["command"],
        markdown="",
        reused_seeds=stored["seeds"],
        trained_seeds=[],
        stock_budget=Budget.from_dict(stored["stock_budget"]) if "stock_budget" in stored else None,
    )
    comparison.markdown = comparison_markdown(comparison, stored["design"], stored["stock"])
    data = comparison_dict(comparison, stored["design"], stored["stock"], records) | {"time": stored["time"]}
    if "selection" in stored:
        data["selection"] = stored["selection"]
    write_json(run_dir / "comparison.json", data | {"rejudged": now_utc()})
    (run_dir / "comparison.md").write_text(comparison.markdown + "\n")
    if plot:
        from .plots import plot_comparison

        plot_comparison(run_dir / "comparison.png", comparison, records, task)
    return comparison
