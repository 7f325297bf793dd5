"""`Budget.eval_split`: every task's evaluation (and finetune_lora's own check) reads the split the budget names;
validation and test records never mix; tasks without a validation split refuse it."""

import pytest

import hf_archs.evaluation.tasks as tasks
import hf_archs.training.finetune as finetune
from hf_archs.errors import UserError
from hf_archs.evaluation import BUDGETS, Budget, evaluate, get_task
from hf_archs.evaluation.arithmetic import ArithmeticConfig, arithmetic_splits
from hf_archs.evaluation.harness import _load_record, run_key
from hf_archs.evaluation.records import record_name, run_records


CI = BUDGETS["ci"]
VALIDATION = CI.with_overrides(eval_split="validation")


def _spy_splits(monkeypatch, module, names=("load_wordnet", "wordnet_texts")) -> list[str]:
    """The split argument of every WordNet read through `module`."""
    seen = []
    for name in names:
        original = getattr(module, name)

        def spy(split="train", *args, _original=original, **kwargs):
            seen.append(split)
            return _original(split, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return seen


@pytest.mark.parametrize(
    "task, model", [("retrieval", "bert"), ("mlm", "bert"), ("perplexity", "llama"), ("extrapolation", "llama")]
)
def test_eval_split_reaches_the_wordnet_data(tiny_models, monkeypatch, task, model):
    seen = _spy_splits(monkeypatch, tasks)
    test = evaluate(tiny_models[model], task, CI)
    assert seen and set(seen) == {"test"}
    seen.clear()
    validation = evaluate(tiny_models[model], task, VALIDATION)
    assert seen and set(seen) == {"validation"}
    # Other held-out texts: other per-item values (the same model, the same budget otherwise).
    (metric,) = [m for m in test.items if m in ("mrr", "loss", "loss@1x")]
    assert validation.items[metric] != test.items[metric]
    assert validation.budget["eval_split"] == "validation"


def test_arithmetic_validation_problems_are_held_out_from_training_and_test():
    config = ArithmeticConfig(steps=1, max_operand=9)  # about 160 questions: train and held-out ones would meet
    train_test, test = arithmetic_splits(100, 30, config, seed=0)
    train_validation, validation = arithmetic_splits(100, 30, config, seed=0, split="validation")
    assert arithmetic_splits(100, 30, config, seed=0, split="test") == (train_test, test)  # the default is test
    questions = {name: {p.question for p in split} for name, split in [("test", test), ("validation", validation)]}
    assert questions["validation"] != questions["test"]
    assert not questions["validation"] & {p.question for p in train_validation}
    assert questions["validation"] & {p.question for p in train_test}  # so the exclusion above is what holds
    with pytest.raises(ValueError, match="Unknown arithmetic split"):
        arithmetic_splits(2, 2, config, split="train")
    # The task's evaluation and its training data follow the budget's split.
    kwargs = get_task("arithmetic").training_kwargs(None, VALIDATION, seed=0)
    config = tasks.arithmetic_config(VALIDATION)
    _, held_out = arithmetic_splits(1, VALIDATION.arithmetic_eval_size, config, split="validation")
    assert {p.question for p in held_out}.isdisjoint(text.split("\n")[0][3:] for text in kwargs["train_texts"])


def test_validation_and_test_records_never_mix(tiny_models, tmp_path):
    assert VALIDATION.fingerprint() != CI.fingerprint()
    assert "eval_split" not in CI.training_dict()  # test budgets keep the fingerprint of their stored results
    task, design, stock = get_task("perplexity"), tiny_models["llama_semantic"], tiny_models["llama"]
    assert run_key(task, VALIDATION, design, stock) != run_key(task, CI, design, stock)
    record = evaluate(stock, "perplexity", VALIDATION, output=tmp_path / record_name(0, "model"))
    stored = run_records(tmp_path)
    assert _load_record(stored, 0, "model", VALIDATION) is not None
    assert _load_record(stored, 0, "model", CI) is None  # a test run never trusts a validation record
    assert record.metrics["loss"] > 0


def test_tasks_without_a_validation_split_refuse_it(tiny_models):
    for task, model in (("analogy", "bert"), ("cost", "bert")):
        with pytest.raises(UserError, match=f"Task '{task}' has no validation split"):
            evaluate(tiny_models[model], task, VALIDATION)
    with pytest.raises(UserError, match="eval_split must be one of"):
        Budget.from_dict(CI.to_dict() | {"eval_split": "train"})


@pytest.mark.parametrize("objective, model", [("embedding", "bert"), ("causal_lm", "llama")])
def test_finetune_check_reads_the_eval_split(tiny_models, tmp_path, monkeypatch, objective, model):
    """While settings are chosen, finetune_lora's before/after check must not read the test split either."""
    seen = _spy_splits(monkeypatch, finetune)
    finetune.finetune_lora(str(tiny_models[model]), objective, str(tmp_path), max_steps=1, batch_size=4, eval_size=4,
                           train_size=8, max_length=16, eval_split="validation")  # fmt: skip
    assert seen == ["validation", "train"]
