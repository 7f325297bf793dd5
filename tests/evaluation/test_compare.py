"""`compare` end to end on the ci budget with tiny models: files, statistics, resume; `evaluate` on every task."""

import json
import lzma
import shutil

import numpy as np
import pytest
from transformers import AutoTokenizer

import hf_archs.evaluation.harness as harness
from hf_archs.evaluation import BUDGETS, compare, evaluate, get_task, update_card, write_leaderboard
from hf_archs.evaluation.cli import main as cli_main
from hf_archs.evaluation.harness import rejudge, run_key
from hf_archs.evaluation.records import read_json, run_records
from hf_archs.training import finetune_lora


@pytest.mark.slow
def test_compare_end_to_end_then_resume(tiny_models, tmp_path, monkeypatch):
    design, stock = str(tiny_models["llama_semantic"]), str(tiny_models["llama"])
    out = tmp_path / "results"
    first = compare(design, stock, "perplexity", "ci", out=out, name="tiny-semantic", progress=False)

    run_dir = first.run_dir
    assert first.trained_seeds == [0, 1, 2] and first.reused_seeds == []
    for seed in (0, 1, 2):
        for role in ("stock", "design"):
            assert (run_dir / f"seed_{seed}" / f"{role}.json").is_file()
    assert not (run_dir / "work").exists() or not any((run_dir / "work").rglob("*.safetensors"))
    data = json.loads((run_dir / "comparison.json").read_text())
    assert [m["metric"] for m in data["metrics"]] == ["loss", "perplexity"]
    loss = data["metrics"][0]
    assert len(loss["design_values"]) == 3 and loss["bootstrap"]["method"].startswith("paired bootstrap over 24")
    assert loss["t_interval"]["method"] == "t-interval over 3 seeds"
    assert data["cost"]["ratio"]["train_tokens_per_s"] > 0
    assert (run_dir / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (run_dir / "comparison.md").read_text()
    assert "| loss ↓ |" in markdown and "Reproduce: `hf-archs compare --design" in markdown

    # Design and stock were trained the same way; only the design trains its own parameters (tau).
    design_record = json.loads((run_dir / "seed_0" / "design.json").read_text())
    stock_record = json.loads((run_dir / "seed_0" / "stock.json").read_text())
    assert design_record["training"]["design_modules_trained"] == ["semantic_tau"]
    assert stock_record["training"]["design_modules_trained"] == []
    assert len(design_record["training"]["loss_curve"]) == BUDGETS["ci"].steps
    assert design_record["budget"] == stock_record["budget"] == BUDGETS["ci"].to_dict()
    assert len(design_record["items"]["loss"]) == 24

    # A checkout holds the archive and comparison.json, not the per-seed files or cost.json (git-ignored).
    assert not (run_dir / ".gitignore").exists()
    assert run_records(run_dir)["seed_0/design.json"].to_dict() == design_record
    for seed in (0, 1, 2):
        shutil.rmtree(run_dir / f"seed_{seed}")
    (run_dir / "cost.json").unlink()

    # Rerun: nothing is retrained or re-measured, the numbers are the same.
    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was retrained")

    monkeypatch.setattr(harness, "finetune_lora", no_training)
    monkeypatch.setattr("hf_archs.evaluation.cost.compare_cost", no_training)
    again = compare(design, stock, "perplexity", "ci", out=out, name="tiny-semantic", progress=False)
    assert again.trained_seeds == [] and again.reused_seeds == [0, 1, 2]
    assert again.run_dir == run_dir
    assert [m.to_dict() for m in again.metrics] == [m.to_dict() for m in first.metrics]

    # One more seed trains only that seed; a changed budget is a different run.
    calls = []
    monkeypatch.setattr(harness, "finetune_lora", lambda *a, **k: calls.append(k["seed"]) or finetune_lora(*a, **k))
    more = compare(
        design, stock, "perplexity", "ci", out=out, name="tiny-semantic", seeds=[0, 1, 2, 3], progress=False
    )
    assert calls == [3, 3] and more.trained_seeds == [3] and more.run_dir == run_dir
    task, ci = get_task("perplexity"), BUDGETS["ci"]
    assert run_key(task, ci.with_overrides(steps=3), design, stock) != run_key(task, ci, design, stock)
    assert run_key(task, ci.with_overrides(seeds=(5, 6, 7)), design, stock) == run_key(task, ci, design, stock)

    # The generated text goes into a card and the leaderboard.
    card = tmp_path / "card.md"
    card.write_text("# card\n<!-- hf-archs:results tiny-semantic -->\n<!-- /hf-archs:results tiny-semantic -->\n")
    update_card(card, more.name, more.markdown)
    assert "| perplexity ↓ |" in card.read_text()
    board = write_leaderboard(out, tmp_path / "LEADERBOARD.md")
    assert "| tiny-semantic | perplexity | ci | 4 | loss ↓ |" in board
    rows = [row for row in board.splitlines() if row.startswith("| tiny-semantic |")]
    assert rows and all(row.endswith("| declared |") for row in rows)  # no search chose its settings
    assert (tmp_path / "LEADERBOARD.md").read_text().strip() == board.strip()

    # Rejudging from the stored records reproduces the statistics; a run marked invalid leaves the main table.
    assert [m.to_dict() for m in rejudge(run_dir, plot=False).metrics] == [m.to_dict() for m in more.metrics]
    run_file = run_dir / "run.json"
    run_file.write_text(json.dumps(json.loads(run_file.read_text()) | {"status": "invalid: a test run"}))
    board = write_leaderboard(out)
    assert "| tiny-semantic | perplexity |" not in board and "| tiny-semantic | ci | invalid: a test run |" in board
    run_file.write_text(json.dumps(json.loads(run_file.read_text()) | {"status": "wrong"}))
    with pytest.raises(ValueError, match="status must be"):
        write_leaderboard(out)


@pytest.mark.slow
def test_identical_models_under_the_same_budget_give_identical_results(tiny_models, tmp_path):
    # The pairing check: same LoRA init, data order, dropout for both roles -> zero difference, seed by seed.
    # (On the extrapolation task: training on concatenated chunks of L tokens, loss per length bucket.)
    stock = str(tiny_models["llama"])
    result = compare(stock, stock, "extrapolation", BUDGETS["ci"], out=tmp_path, seeds=[0, 1], progress=False)
    assert [m.metric for m in result.metrics] == ["loss@1x", "loss@2x"]
    assert (result.run_dir / "comparison.png").is_file()
    for loss in result.metrics:
        assert loss.design_values == loss.stock_values
        assert loss.bootstrap.estimate == 0 and not loss.bootstrap.significant
    loss = result.metric("loss@1x")
    assert loss.design_values == loss.stock_values
    assert loss.stock_values[0] != loss.stock_values[1]  # seeds do change training


def test_compare_refuses_a_task_of_the_other_kind(tiny_models, tmp_path):
    with pytest.raises(ValueError, match="does not apply"):
        compare(str(tiny_models["bert_semantic"]), str(tiny_models["bert"]), "perplexity", "ci", out=tmp_path)
    with pytest.raises(ValueError, match="applies to"):
        evaluate(tiny_models["llama"], "retrieval", "ci")


def test_evaluate_every_task_on_tiny_models(tiny_models, tmp_path):
    ci = BUDGETS["ci"]
    retrieval = evaluate(tiny_models["bert_semantic"], "retrieval", "ci", output=tmp_path / "r.json")
    assert set(retrieval.metrics) == {"mrr", "recall@1", "recall@10"}
    assert len(retrieval.items["mrr"]) == ci.eval_size
    # Every item is one definition's reciprocal rank: the recalls are the same ranks, and each metric its items' mean.
    ranks = 1 / np.array(retrieval.items["mrr"])
    np.testing.assert_allclose(ranks, np.round(ranks), rtol=1e-9)
    assert ranks.min() >= 1
    np.testing.assert_array_equal(retrieval.items["recall@1"], ranks <= 1)
    np.testing.assert_array_equal(retrieval.items["recall@10"], ranks <= 10 + 1e-9)
    for metric, items in retrieval.items.items():
        assert retrieval.metrics[metric] == pytest.approx(np.mean(items))
    assert json.loads((tmp_path / "r.json").read_text())["config_hash"] == retrieval.config_hash

    mlm = evaluate(tiny_models["bert"], "mlm", "ci")
    assert mlm.metrics["loss"] > 0 and sum(mlm.weights["loss"]) > 0

    extrapolation = evaluate(tiny_models["llama_semantic"], "extrapolation", "ci")
    assert set(extrapolation.metrics) == {"loss@1x", "loss@2x"}
    per_length = extrapolation.details["per_length"]
    assert set(per_length) == {"32", "64"} and per_length["32"]["windows"] == 2 * per_length["64"]["windows"]

    arithmetic = evaluate(tiny_models["llama"], "arithmetic", "ci")
    assert len(arithmetic.items["accuracy"]) == ci.arithmetic_eval_size
    assert set(arithmetic.items["accuracy"]) <= {0.0, 1.0} and arithmetic.details["examples"]
    assert arithmetic.metrics["accuracy"] == pytest.approx(np.mean(arithmetic.items["accuracy"]))

    cost = evaluate(tiny_models["bert"], "cost", "ci")
    assert cost.metrics["train_tokens_per_s"] > 0 and cost.metrics["infer_tokens_per_s"] > 0


def test_training_data_of_the_decoder_tasks(tiny_models):
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["llama"])
    ci = BUDGETS["ci"]
    chunks = get_task("extrapolation").training_kwargs(tokenizer, ci, seed=0)
    assert chunks["max_length"] == ci.seq_len and len(chunks["train_texts"]) == ci.steps * ci.batch_size
    assert all(len(tokenizer(t, add_special_tokens=False)["input_ids"]) >= ci.seq_len for t in chunks["train_texts"])
    arithmetic = get_task("arithmetic").training_kwargs(tokenizer, ci, seed=1)
    assert len(arithmetic["train_texts"]) == ci.arithmetic_train_size
    assert all(t.startswith("Q: ") and "Answer: " in t for t in arithmetic["train_texts"])


def test_cli_eval_and_leaderboard(tiny_models, tmp_path, capsys):
    record = tmp_path / "results" / "eval.json"
    assert (
        cli_main(["eval", str(tiny_models["llama"]), "--task", "perplexity", "--budget", "ci", "--out", str(record)])
        == 0
    )
    assert json.loads(record.read_text())["task"] == "perplexity"
    assert cli_main(["leaderboard", "--results", str(tmp_path / "results")]) == 0
    assert "Single evaluations" in capsys.readouterr().out
    assert (
        cli_main(["eval", str(tiny_models["llama"]), "--task", "retrieval", "--budget", "ci", "--out", str(record)])
        == 2
    )
    # A record named .json.xz is stored compressed (as results/eval/ keeps them) and listed the same way.
    compressed = record.with_name("eval.json.xz")
    assert (
        cli_main(
            ["eval", str(tiny_models["llama"]), "--task", "perplexity", "--budget", "ci", "--out", str(compressed)]
        )
        == 0
    )
    assert lzma.decompress(compressed.read_bytes()) and read_json(compressed)["task"] == "perplexity"
    record.unlink()
    assert cli_main(["leaderboard", "--results", str(tmp_path / "results")]) == 0
    assert f"| {tiny_models['llama']} | perplexity | ci |" in capsys.readouterr().out


def test_retrieval_truncates_at_the_budgets_sequence_length(tiny_models):
    """Bug: the retrieval task ignored `seq_len` (training and evaluation truncated at a fixed 64 tokens), so the
    dictionary benchmark's "short context" (L = 16) and "long context" (L = 64) runs were the same runs."""
    import dataclasses

    ci = BUDGETS["ci"]
    model = tiny_models["bert_semantic"]
    full = evaluate(model, "retrieval", ci)
    truncated = evaluate(model, "retrieval", dataclasses.replace(ci, seq_len=3))
    assert truncated.items["mrr"] != full.items["mrr"]  # definitions cut to [CLS] + 1 token + [SEP] rank differently


def test_embedding_training_truncates_at_max_length(tiny_models, tmp_path, monkeypatch):
    """finetune_lora's `max_length` reaches the contrastive collator (it was fixed at 64 for the embedding task)."""
    from hf_archs.training import embedding

    seen = []
    call = embedding.DefinitionWordCollator._tokenize

    def spy(self, texts):
        batch = call(self, texts)
        seen.append(batch["input_ids"].shape[1])
        return batch

    monkeypatch.setattr(embedding.DefinitionWordCollator, "_tokenize", spy)
    finetune_lora(str(tiny_models["bert"]), "embedding", str(tmp_path), max_steps=1, batch_size=4, eval_size=8,
                  max_length=5, train_size=16)  # fmt: skip
    assert seen and max(seen) <= 5
