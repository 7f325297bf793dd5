"""Budgets (frozen, serializable, fingerprinted) and the task registry."""

import dataclasses
import json

import pytest

from hf_archs.evaluation import BUDGETS, TASKS, Budget, get_budget, get_task, get_tasks, tasks_for
from hf_archs.evaluation.tasks import model_kind
from hf_archs.registry import ZOO


def test_budgets_are_frozen_and_round_trip():
    for budget in BUDGETS.values():
        with pytest.raises(dataclasses.FrozenInstanceError):
            budget.steps = 1
        assert Budget.from_dict(budget.to_dict()) == budget
        assert len(budget.seeds) >= 3
    assert get_budget("ci") is BUDGETS["ci"]
    with pytest.raises(ValueError, match="Unknown budget"):
        get_budget("huge")


def test_fingerprint_changes_with_what_a_run_computes_not_with_seeds():
    ci = BUDGETS["ci"]
    assert ci.with_overrides(seeds=(0, 1, 2, 3)).fingerprint() == ci.fingerprint()
    assert ci.with_overrides(steps=3).fingerprint() != ci.fingerprint()
    assert ci.with_overrides(learning_rate=2e-3).fingerprint() != ci.fingerprint()
    assert len({b.fingerprint() for b in BUDGETS.values()}) == len(BUDGETS)


def test_budgets_of_the_stored_runs_keep_their_fingerprints():
    # The fingerprints recorded in results/*/*/run.json (a rerun finds its run folder by them; gemma3-gpu: of the
    # benchmarks/budgets/gemma3_gpu.json these entries replaced, no stored run): the registry describes the same runs.
    stored = {
        "laptop": "ec8957bdc9",
        "laptop-design-lr-5e-4": "ad86384b6c",
        "gemma3-cpu": "7670637200",
        "gemma3-cpu-design-lr-1e-5": "38b738d8c1",
        "gemma3-cpu-mntp": "af011356a6",
        "gemma3-gpu": "f05405fe95",
    }
    assert {name: BUDGETS[name].fingerprint() for name in stored} == stored


def test_budget_validation():
    with pytest.raises(ValueError, match="seeds"):
        BUDGETS["ci"].with_overrides(seeds=(1, 1))


def test_registry_lookup_by_kind_and_by_declared_names():
    assert {t.name for t in tasks_for("encoder")} == {"retrieval", "analogy", "mlm", "cost"}
    assert {t.name for t in tasks_for("decoder")} == {"perplexity", "arithmetic", "extrapolation", "analogy", "cost"}
    assert [t.name for t in get_tasks(["retrieval", "cost"])] == ["retrieval", "cost"]
    with pytest.raises(ValueError, match="Unknown task"):
        get_task("translation")


def test_every_task_declares_objective_and_metric_directions():
    ci = BUDGETS["ci"]
    for task in TASKS.values():
        assert task.objective in ("embedding", "mlm", "causal_lm", None)
        directions = task.metric_directions(ci)
        assert directions and all(isinstance(v, bool) for v in directions.values())
        for metric, (source, _) in task.derived.items():
            assert metric in directions and source in directions
    assert get_task("extrapolation").metric_names(ci) == ["loss@1x", "loss@2x"]
    assert get_task("retrieval").metric_directions(ci) == {"mrr": True, "recall@1": True, "recall@10": True}
    assert get_task("perplexity").metric_directions(ci) == {"loss": False, "perplexity": False}


def test_every_design_declares_tasks_the_harness_has():
    from hf_archs.evaluation.tasks import get_tasks
    from hf_archs.registry import DESIGNS

    for design in DESIGNS.values():
        assert design.tasks, design.name
        assert [task.name for task in get_tasks(design.tasks)] == list(design.tasks)


@pytest.mark.parametrize("entry", ZOO, ids=lambda entry: entry.model_type)
def test_model_kind_from_the_architecture_or_the_registry(entry, tmp_path):
    # A causal LM is a decoder; any other head, and a decoder family's base model (what the harness embeds with, as
    # the oscillating encoders are made), is an encoder, whatever the family is called. Without an architecture,
    # the registry says whether the model type is a decoder.
    def kind(**config):
        (tmp_path / "config.json").write_text(json.dumps({"model_type": entry.model_type, **config}))
        return model_kind(tmp_path)

    for auto_class, model_class in entry.model_classes.items():
        expected = "decoder" if auto_class == "AutoModelForCausalLM" else "encoder"
        assert kind(architectures=[model_class.__name__]) == expected, auto_class
    assert kind() == ("decoder" if entry.is_decoder else "encoder")


@pytest.mark.parametrize(("model_type", "kind"), [("llama", "decoder"), ("qwen2", "decoder"), ("bert", "encoder")])
def test_model_kind_of_stock_types_without_an_architecture(model_type, kind, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert model_kind(tmp_path) == kind
