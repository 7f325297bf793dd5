"""`search`: settings chosen on the validation split by a declared grid (the same procedure for stock), recorded in
search.json, then one comparison on the test split with each side's chosen budget."""

import json
import math
import time
from pathlib import Path

import pytest

import hf_archs.evaluation.harness as harness
import hf_archs.evaluation.search as search_module
from hf_archs.errors import UserError
from hf_archs.evaluation import BUDGETS, TaskResult, write_leaderboard
from hf_archs.evaluation.cli import main as cli_main
from hf_archs.evaluation.records import code_commit
from hf_archs.evaluation.search import check_grid, choose, parse_grid, search


CI = BUDGETS["ci"].with_overrides(seeds=(0, 1))
GRID = {"design_learning_rate": (1e-5, 1e-4, 1e-3), "learning_rate": (5e-4, 1e-3)}


def _loss(role: str, budget, seed: int) -> float:
    """A known answer: design is best at lr 1e-3 with design lr 1e-4, stock at lr 5e-4 (a seed adds a little)."""
    if role == "design":
        distance = abs(math.log10(budget.design_learning_rate) + 4) + abs(math.log10(budget.learning_rate) + 3)
    else:
        distance = abs(math.log10(budget.learning_rate) - math.log10(5e-4))
    return 1.0 + distance + 0.01 * seed


@pytest.fixture
def fake_training(monkeypatch):
    """`_train_and_evaluate` without training: the perplexity task's record with the loss `_loss` gives; every call
    is counted as (role, eval split, learning rate, design learning rate, seed)."""
    calls = []

    def fake(task, role, model_path, budget, seed, work_dir, device, trust_remote_code):
        calls.append((role, budget.eval_split, budget.learning_rate, budget.design_learning_rate, seed))
        loss = _loss(role, budget, seed)
        result = TaskResult({"loss": loss, "perplexity": math.exp(loss)}, {"loss": [loss] * 4}, {"loss": [1] * 4})
        return harness._record(task, model_path, seed, budget, result, time.perf_counter(), role=role)

    monkeypatch.setattr(search_module, "_train_and_evaluate", fake)
    monkeypatch.setattr(harness, "_train_and_evaluate", fake)
    monkeypatch.setattr(harness, "_cost", lambda *args: None)
    return calls


def test_search_chooses_on_validation_and_tests_once(tiny_models, tmp_path, fake_training):
    design, stock = str(tiny_models["llama_semantic"]), str(tiny_models["llama"])
    result = search(design, stock, "perplexity", CI, GRID, out=tmp_path, name="s", progress=False, plot=False)

    # Every candidate on validation: 6 for the design, 2 for stock (design_learning_rate does not change stock).
    validation = [call for call in fake_training if call[1] == "validation"]
    assert len([c for c in validation if c[0] == "design"]) == 6 * 2
    stock_runs = sorted((c[2], c[3]) for c in validation if c[0] == "stock")
    assert stock_runs == [(5e-4, CI.design_learning_rate)] * 2 + [(1e-3, CI.design_learning_rate)] * 2
    # The test split once per model and seed, with each side's choice.
    test = sorted(call for call in fake_training if call[1] == "test")
    assert test == [("design", "test", 1e-3, 1e-4, 0), ("design", "test", 1e-3, 1e-4, 1),
                    ("stock", "test", 5e-4, CI.design_learning_rate, 0),
                    ("stock", "test", 5e-4, CI.design_learning_rate, 1)]  # fmt: skip

    data = json.loads((result.search_dir / "search.json").read_text())
    assert data["grid"] == {k: list(v) for k, v in GRID.items()} and data["stock_grid"] == ["learning_rate"]
    assert data["metric"] == "loss" and data["higher_is_better"] is False and data["eval_split"] == "validation"
    assert data["design_search"]["chosen_settings"] == {"design_learning_rate": 1e-4, "learning_rate": 1e-3}
    assert data["stock_search"]["chosen_settings"] == {"learning_rate": 5e-4}
    assert len(data["design_search"]["candidates"]) == 6 and len(data["stock_search"]["candidates"]) == 2
    first = data["design_search"]["candidates"][0]
    assert first["settings"] == {"design_learning_rate": 1e-5, "learning_rate": 5e-4}
    budget = CI.with_overrides(design_learning_rate=1e-5, learning_rate=5e-4)
    assert [first["metrics"][str(s)]["loss"] for s in (0, 1)] == [_loss("design", budget, s) for s in (0, 1)]
    assert "ties go to the candidate that comes first" in data["rule"]
    assert data["commit"] == code_commit() and data["versions"]["hf_archs_commit"] == code_commit()
    assert data["comparison"] == str(result.comparison.run_dir)

    # The final comparison holds both chosen budgets and where they came from.
    comparison = json.loads((result.comparison.run_dir / "comparison.json").read_text())
    assert comparison["budget"]["learning_rate"] == 1e-3 and comparison["budget"]["design_learning_rate"] == 1e-4
    assert comparison["stock_budget"]["learning_rate"] == 5e-4 and comparison["budget"]["eval_split"] == "test"
    assert comparison["selection"]["search"] == str(result.search_dir / "search.json")
    assert "(stock trained with learning_rate 0.0005)" in result.comparison.markdown
    # Candidate records are not results: the leaderboard lists the final comparison, no single evaluations.
    board = write_leaderboard(tmp_path)
    assert "| s | perplexity | ci | 2 |" in board and "Single evaluations" not in board
    assert all(row.endswith("| validation search |") for row in board.splitlines() if row.startswith("| s |"))

    # A rerun reuses every finished candidate and the final seeds: nothing is trained or evaluated again.
    fake_training.clear()
    again = search(design, stock, "perplexity", CI, GRID, out=tmp_path, name="s", progress=False, plot=False)
    assert fake_training == [] and again.data["design_search"] == data["design_search"]


def test_the_choice_follows_the_metric_direction_and_the_tie_rule():
    assert choose([0.3, 0.5, 0.5], higher_is_better=True) == 1  # the first of the tied best
    assert choose([0.3, 0.5, 0.5], higher_is_better=False) == 0
    assert choose([float("nan"), 2.0, float("inf"), 3.0], higher_is_better=False) == 1  # diverged runs never win
    with pytest.raises(UserError, match="No candidate gave a finite"):
        choose([float("nan"), float("inf")], higher_is_better=False)


@pytest.mark.parametrize(
    "specs, message",
    [
        (["lr=1e-3,1e-4"], "lr: not a searchable budget field"),
        (["learning_rate="], "empty value"),
        (["learning_rate=1e-3,"], "empty value"),
        (["learning_rate"], "expected FIELD=VALUE"),
        (["lora_r=4,8.5"], "'8.5' is not an integer"),
        (["learning_rate=1e-3", "learning_rate=1e-4"], "given twice"),
        (["eval_size=10,20"], "not a searchable budget field"),
        (["learning_rate=1e-3"], "needs at least two distinct values"),
        (["learning_rate=1e-3,1e-3"], "needs at least two distinct values"),
        (["mntp_probability=0.1,0.2"], "changes nothing while mntp_steps is 0"),
    ],
)
def test_bad_grids_are_refused_in_one_line(specs, message):
    with pytest.raises(UserError, match=message) as error:
        check_grid(parse_grid(specs), BUDGETS["ci"])
    assert "\n" not in str(error.value)


def test_bad_searches_are_refused_before_training(tiny_models, tmp_path, capsys, fake_training):
    bert, bert_semantic = str(tiny_models["bert"]), str(tiny_models["bert_semantic"])
    with pytest.raises(UserError, match="Task 'analogy' has no validation split"):
        search(bert_semantic, bert, "analogy", CI, GRID, out=tmp_path, progress=False)
    with pytest.raises(UserError, match="no metric 'mrr'"):
        search(bert_semantic, bert, "mlm", CI, GRID, out=tmp_path, metric="mrr", progress=False)
    with pytest.raises(UserError, match="give a test budget"):
        search(bert_semantic, bert, "mlm", CI.with_overrides(eval_split="validation"), GRID, out=tmp_path)
    assert fake_training == []
    # The command line: a bad grid is one line and exit status 2.
    argv = ["search", "--design", bert_semantic, "--stock", bert, "--task", "mlm", "--budget", "ci"]
    assert cli_main([*argv, "--grid", "learning_rate=1e-3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs at least two distinct values" in err


@pytest.mark.slow
def test_search_end_to_end_on_a_tiny_model(tiny_models, tmp_path, capsys):
    """Real training: candidates on validation, the final run on test (the records say which split)."""
    design, stock = str(tiny_models["llama_semantic"]), str(tiny_models["llama"])
    argv = ["search", "--design", design, "--stock", stock, "--task", "perplexity", "--budget", "ci", "--seeds", "0,1"]
    argv += ["--grid", "learning_rate=1e-3,1e-2", "--out", str(tmp_path), "--name", "s", "--no-progress"]
    assert cli_main(argv) == 0
    assert "Validation search (loss ↓" in capsys.readouterr().out
    (search_dir,) = (tmp_path / "s").glob("search-perplexity-ci-*")
    records = list(search_dir.glob("*/seed_*/*.json"))
    assert len(records) == 2 * 2 * 2  # (design, stock) x 2 learning rates x 2 seeds
    assert {json.loads(path.read_text())["budget"]["eval_split"] for path in records} == {"validation"}
    data = json.loads((search_dir / "search.json").read_text())
    for role in ("design", "stock"):
        losses = [row["mean"] for row in data[f"{role}_search"]["candidates"]]
        assert data[f"{role}_search"]["chosen"] == losses.index(min(losses))
        chosen = data[f"{role}_search"]["chosen_settings"]["learning_rate"]
        final = [json.loads((Path(data["comparison"]) / f"seed_{s}" / f"{role}.json").read_text()) for s in (0, 1)]
        assert {(r["budget"]["eval_split"], r["budget"]["learning_rate"]) for r in final} == {("test", chosen)}


def test_a_stock_budget_may_differ_in_training_settings_only(tiny_models, tmp_path, fake_training):
    design, stock = str(tiny_models["llama_semantic"]), str(tiny_models["llama"])
    with pytest.raises(UserError, match=r"only in training settings .* differs in \['eval_size'\]"):
        harness.compare(design, stock, "perplexity", CI, stock_budget=CI.with_overrides(eval_size=10), out=tmp_path)
    assert fake_training == []
    task = harness.get_task("perplexity")
    # The same budget for both keeps the run folder that comparisons made before stock budgets existed.
    assert harness.run_key(task, CI, design, stock, CI) == harness.run_key(task, CI, design, stock)
    other = CI.with_overrides(learning_rate=5e-4)
    assert harness.run_key(task, CI, design, stock, other) != harness.run_key(task, CI, design, stock)
