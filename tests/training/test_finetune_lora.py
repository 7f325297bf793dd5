"""End-to-end LoRA fine-tunes with tiny budgets: real MiniLM embeddings, a tiny Llama, a tiny BERT MLM."""

import json

import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer, BertForMaskedLM, Trainer

from hf_archs.data import load_wordnet
from hf_archs.testing import tiny_bert_config
from hf_archs.training import finetune_lora
from hf_archs.training.embedding import Pooling, encode, evaluate_retrieval


def check_report_files(report, output_dir):
    assert (output_dir / "adapter" / "adapter_config.json").is_file()
    assert (output_dir / "merged" / "config.json").is_file()
    assert json.loads((output_dir / "report.json").read_text())["after"] == report.after
    for name in report.metric_names:
        assert report.reloaded[name] == pytest.approx(report.after[name], rel=1e-3, abs=1e-4)


def test_unknown_task_raises(tmp_path):
    with pytest.raises(ValueError, match="Unknown task"):
        finetune_lora(str(tmp_path), "summarization", str(tmp_path / "out"))


def test_bad_budget_raises(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        finetune_lora(str(tmp_path), "embedding", str(tmp_path / "out"), batch_size=1)


@pytest.mark.slow
def test_embedding_finetune_on_minilm(minilm_path, tmp_path):
    out = tmp_path / "ft"
    report = finetune_lora(
        str(minilm_path), "embedding", str(out), max_steps=3, batch_size=8, train_size=64, eval_size=40
    )

    assert report.metric_names == ["mrr", "recall@1", "recall@10"]
    assert report.design_modules_trained == []  # stock model: LoRA only
    assert 0 < report.trainable_parameters < report.total_parameters / 50
    assert report.eval_size == 40 and report.train_size == 64
    assert 0 < report.before["mrr"] <= 1
    check_report_files(report, out)

    # The merged folder is a plain Transformers model that reproduces the trained metrics ...
    merged_dir = out / "merged"
    merged = AutoModel.from_pretrained(merged_dir)
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    pooling = Pooling.from_model_dir(merged_dir)
    assert pooling == Pooling("mean", normalize=True)
    merged_metrics = evaluate_retrieval(merged, tokenizer, load_wordnet("test", limit=40), pooling)
    assert merged_metrics == pytest.approx(report.after, rel=1e-3, abs=1e-4)

    # ... and still a sentence-transformers model.
    texts = ["a financial institution", "bank"]
    st_embeddings = SentenceTransformer(str(merged_dir), device="cpu").encode(texts, convert_to_tensor=True)
    assert torch.allclose(st_embeddings.cpu(), encode(merged, tokenizer, texts, pooling), atol=1e-4)


@pytest.mark.slow
def test_causal_lm_finetune_lowers_held_out_loss(tiny_llama_path, tmp_path):
    report = finetune_lora(
        str(tiny_llama_path),
        "causal_lm",
        str(tmp_path / "ft"),
        max_steps=8,
        batch_size=16,
        learning_rate=1e-2,
        train_size=512,
        eval_size=64,
    )
    assert report.metric_names == ["loss", "perplexity"]
    assert report.after["loss"] < report.before["loss"] - 0.05
    assert report.after["perplexity"] < report.before["perplexity"]
    check_report_files(report, tmp_path / "ft")


@pytest.mark.slow
def test_mlm_finetune_runs_and_reloads(minilm_path, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = tiny_bert_config(vocab_size=len(tokenizer))
    torch.manual_seed(0)
    model_dir = tmp_path / "tiny_bert"
    BertForMaskedLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    report = finetune_lora(
        str(model_dir), "mlm", str(tmp_path / "ft"), max_steps=2, batch_size=8, train_size=32, eval_size=32
    )
    assert report.metric_names == ["loss", "perplexity"]
    assert report.before["loss"] > 0
    check_report_files(report, tmp_path / "ft")


def test_mlm_on_a_model_without_its_head_is_refused_before_training(minilm_path, tmp_path, monkeypatch):
    """Bug: MiniLM (a BertModel folder, no MLM head) trained a random head for `--task mlm`, then failed the reload
    check with metrics that did not match, leaving a half-written output folder."""
    monkeypatch.setattr(Trainer, "train", lambda *a, **k: pytest.fail("trained a model without its MLM head"))
    with pytest.raises(ValueError, match="no MaskedLM head for the 'mlm' task"):
        finetune_lora(str(minilm_path), "mlm", str(tmp_path / "ft"), max_steps=2, batch_size=8, eval_size=8)
    assert not (tmp_path / "ft").exists()


def test_a_failed_run_leaves_no_half_written_output(minilm_path, tmp_path, monkeypatch):
    """Bug: a run failing after training (here: the reload check) left adapter/ in the output folder, which looked
    like a result. The output folder appears only once the run has succeeded; a rerun replaces only its own files."""
    from hf_archs.training import finetune

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model_dir = tmp_path / "tiny_bert"
    torch.manual_seed(0)
    BertForMaskedLM(tiny_bert_config(vocab_size=len(tokenizer))).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    budget = dict(max_steps=1, batch_size=8, train_size=16, eval_size=16)

    def failing_check(after, reloaded):
        raise RuntimeError("reload check failed")

    monkeypatch.setattr(finetune, "_check_reloaded", failing_check)
    with pytest.raises(RuntimeError, match="reload check failed"):
        finetune_lora(str(model_dir), "mlm", str(tmp_path / "ft"), **budget)
    assert not (tmp_path / "ft").exists()

    monkeypatch.undo()
    (tmp_path / "ft").mkdir()
    (tmp_path / "ft" / "notes.txt").write_text("mine")
    report = finetune_lora(str(model_dir), "mlm", str(tmp_path / "ft"), **budget)
    check_report_files(report, tmp_path / "ft")
    assert (tmp_path / "ft" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ft", "tiny_bert"]


def test_the_recipe_reports_a_missing_head_in_one_line(minilm_path, tmp_path, monkeypatch, capsys):
    import runpy
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "lora_finetune.py"
    argv = [str(recipe), "--model", str(minilm_path), "--task", "mlm", "--out", str(tmp_path / "ft")]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(recipe), run_name="__main__")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.splitlines()[-1].startswith("hf-archs: error: ") and "no MaskedLM head" in err
