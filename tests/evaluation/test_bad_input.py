"""`hf-archs eval / compare / leaderboard` on inputs a new user gets wrong: a clear one-line error, nothing lost."""

import json

import pytest
import torch
from transformers import BertModel

from hf_archs.cli import build_parser
from hf_archs.cli import main as cli
from hf_archs.evaluation import BUDGETS, compare
from hf_archs.testing import tiny_bert_config


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("hf-archs: error: ") and "Traceback" not in err
    return err.splitlines()[-1]


def test_leaderboard_of_a_missing_or_empty_folder_keeps_the_old_table(tmp_path, capsys):
    board = tmp_path / "LEADERBOARD.md"
    board.write_text("the real leaderboard\n")
    assert cli(["leaderboard", "--results", str(tmp_path / "reslts"), "--output", str(board)]) == 2
    assert "No results folder" in _error(capsys)
    (tmp_path / "empty").mkdir()
    assert cli(["leaderboard", "--results", str(tmp_path / "empty"), "--output", str(board)]) == 2
    assert "holds no results" in _error(capsys)
    assert board.read_text() == "the real leaderboard\n"


def _budget_file(tmp_path, **changes):
    data = {**BUDGETS["ci"].to_dict(), **changes}
    for key, value in changes.items():
        if value is None:
            data.pop(key)
    path = tmp_path / "budget.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"stpes": 500}, "unknown budget keys ['stpes']"),
        ({"steps": None}, "missing budget keys ['steps']"),
        ({"learning_rate": -1}, "learning_rate and design_learning_rate must be > 0"),
        ({"batch_size": "8"}, "batch_size must be a number"),
        ({"eval_size": -5}, "eval_size"),
        ({"arithmetic_eval_size": -5}, "arithmetic_eval_size"),
    ],
)
def test_a_wrong_budget_json_is_refused_by_name(tiny_models, tmp_path, capsys, changes, message):
    argv = ["compare", "--design", str(tiny_models["bert_semantic"]), "--stock", str(tiny_models["bert"])]
    argv += ["--task", "retrieval", "--budget-json", str(_budget_file(tmp_path, **changes)), "--out", str(tmp_path)]
    assert cli(argv) == 2
    assert message in _error(capsys)
    assert not any(tmp_path.glob("*/*/run.json"))


def test_a_budget_file_that_is_not_json_is_named(tmp_path, capsys):
    (tmp_path / "budget.json").write_text("steps: 500\n")
    argv = ["compare", "--design", "d", "--stock", "s", "--task", "retrieval", "--budget-json"]
    assert cli([*argv, str(tmp_path / "budget.json")]) == 2
    assert "is not valid JSON" in _error(capsys)


def test_repeated_seeds_are_refused(tiny_models, tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["compare", "--design", "d", "--stock", "s", "--task", "retrieval", "--seeds", "1,1"]
        )
    assert "distinct seeds" in capsys.readouterr().err
    with pytest.raises(ValueError, match="distinct seeds"):
        compare(tiny_models["bert_semantic"], tiny_models["bert"], "retrieval", "ci", out=tmp_path, seeds=[1, 1])


def test_compare_refuses_a_stock_model_that_is_not_the_source(tiny_models, tmp_path, capsys):
    torch.manual_seed(1)  # the same shape as the design's source, other weights
    other = tmp_path / "other_bert"
    BertModel(
        tiny_bert_config(vocab_size=json.loads((tiny_models["bert"] / "config.json").read_text())["vocab_size"])
    ).save_pretrained(other)
    argv = ["compare", "--design", str(tiny_models["bert_semantic"]), "--task", "retrieval", "--budget", "ci"]
    assert cli([*argv, "--stock", str(other), "--out", str(tmp_path / "out")]) == 2
    assert "is not the stock source" in _error(capsys)
    assert cli([*argv, "--stock", str(tiny_models["llama"]), "--out", str(tmp_path / "out")]) == 2
    _error(capsys)
    assert not (tmp_path / "out").exists()


def test_eval_on_a_missing_device_is_named(tiny_models, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = ["eval", str(tiny_models["bert"]), "--task", "retrieval", "--budget", "ci", "--device", "cuda"]
    assert cli([*argv, "--out", str(tmp_path / "r.json")]) == 2
    assert "--device cuda is not available" in _error(capsys)


def test_a_model_folder_without_a_tokenizer_is_named(tiny_models, tmp_path, capsys):
    BertModel.from_pretrained(tiny_models["bert"]).save_pretrained(tmp_path / "no_tokenizer")
    argv = ["eval", str(tmp_path / "no_tokenizer"), "--task", "retrieval", "--budget", "ci"]
    assert cli([*argv, "--out", str(tmp_path / "r.json")]) == 2
    err = _error(capsys)
    assert "has no tokenizer" in err and "sentencepiece" not in err.lower()


def test_eval_and_compare_write_outside_the_tracked_results_by_default():
    common = ["--task", "retrieval"]
    assert build_parser().parse_args(["compare", "--design", "d", "--stock", "s", *common]).out == "outputs"
    from hf_archs.evaluation.cli import DEFAULT_OUT

    assert DEFAULT_OUT.name == "outputs"


@pytest.mark.parametrize("budget,noted", [("ci", True), ("laptop", False)])
def test_ci_budget_results_say_they_are_noise(budget, noted):
    from types import SimpleNamespace

    from hf_archs.evaluation.report import comparison_markdown

    comparison = SimpleNamespace(
        name="n", task="retrieval", budget=BUDGETS[budget], seeds=[0, 1], metrics=[], cost=None, command="c"
    )
    assert ("is noise, not a measurement" in comparison_markdown(comparison, "d", "s")) == noted
