"""`train_and_evaluate`: one reference model trained and evaluated per seed exactly as one side of `compare`."""

import json

import pytest

import hf_archs.evaluation.harness as harness
from hf_archs.evaluation import BUDGETS, compare
from hf_archs.evaluation.harness import train_and_evaluate


@pytest.mark.slow
def test_train_and_evaluate_matches_a_side_of_compare_and_resumes(tiny_models, tmp_path, monkeypatch):
    bert = str(tiny_models["bert"])
    summary = train_and_evaluate(bert, "retrieval", "ci", out=tmp_path, name="ref", seeds=[0, 1])
    (run_dir,) = (tmp_path / "ref").iterdir()
    assert sorted(p.name for p in run_dir.glob("seed_*")) == ["seed_0", "seed_1"]
    assert summary["metrics"]["mrr"]["values"] == [
        json.loads((run_dir / f"seed_{s}" / "model.json").read_text())["metrics"]["mrr"] for s in (0, 1)
    ]
    assert json.loads((run_dir / "summary.json").read_text())["metrics"] == summary["metrics"]
    # The same numbers as the stock side of a comparison of that model, seed by seed (same training, same items).
    paired = compare(str(tiny_models["bert_semantic"]), bert, "retrieval", "ci", out=tmp_path, seeds=[0, 1])
    assert paired.metric("mrr").stock_values == summary["metrics"]["mrr"]["values"]

    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was retrained")

    monkeypatch.setattr(harness, "finetune_lora", no_training)
    again = train_and_evaluate(bert, "retrieval", BUDGETS["ci"], out=tmp_path, name="ref", seeds=[0, 1])
    assert again["metrics"] == summary["metrics"]
    with pytest.raises(ValueError, match="does not apply"):
        train_and_evaluate(str(tiny_models["llama"]), "retrieval", "ci", out=tmp_path)
