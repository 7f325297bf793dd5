"""`hf-archs corpus build --tiny` end to end, and `hf-archs pretrain` for a few steps on it (CPU)."""

import json
import shutil

import numpy as np
import pytest
from datasets import load_from_disk
from transformers import AutoTokenizer

from hf_archs.cli import main
from hf_archs.data.corpus import build_corpus, load_tokens
from hf_archs.evaluation.leaderboard import leaderboard_markdown
from hf_archs.evaluation.scratch import arm, pretrain_records, scratch_rows
from hf_archs.training import pretrain


SEQ_LEN = 16
# Few steps of tiny models: what is checked is the plumbing (records, resume, parameter counts), not learning.
RUN = ["--seq-len", str(SEQ_LEN), "--batch-size", "4", "--logging-steps", "1", "--eval-windows", "8", "--cpu"]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    return out, build_corpus(out, tiny=True, vocab_size=512)


def test_tiny_corpus_build_writes_every_output(tiny_corpus):
    out, description = tiny_corpus
    tokenizer = AutoTokenizer.from_pretrained(out / "tokenizer")
    dataset = load_from_disk(str(out / "dataset"))
    assert len(tokenizer) == description["vocab_size"] == 512
    for split in ("train", "validation"):
        info = description["splits"][split]
        tokens = load_tokens(out / info["token_file"])
        assert tokens.dtype == np.uint16 and tokens.size == info["tokens"] > 0
        # The stream is the split's documents in order, each followed by eos.
        assert len(dataset[split]) == info["documents"] == int((tokens == tokenizer.eos_token_id).sum())
        first = tokenizer(dataset[split][0]["text"], add_special_tokens=False)["input_ids"]
        assert tokens[: len(first)].tolist() == first
    assert not set(dataset["train"]["text"]) & set(dataset["validation"]["text"])
    assert json.loads((out / "corpus.json").read_text())["splits"] == description["splits"]


def test_window_order_comes_from_the_seed_only(tiny_corpus):
    tokens = load_tokens(tiny_corpus[0] / "tokens-train.npy.xz")
    a, b, c = (pretrain.WindowDataset(tokens, SEQ_LEN, seed) for seed in (0, 0, 1))
    assert [a[i]["input_ids"].tolist() for i in range(5)] == [b[i]["input_ids"].tolist() for i in range(5)]
    assert [a[i]["input_ids"].tolist() for i in range(5)] != [c[i]["input_ids"].tolist() for i in range(5)]


def _record(out, name):
    return json.loads((out / f"{name}.json").read_text())


def test_decoder_run_writes_its_record_and_resumes_exactly(tiny_corpus, tmp_path):
    corpus = str(tiny_corpus[0])
    args = ["pretrain", "--corpus", corpus, "--preset", "llama-tiny", "--max-steps", "4", "--save-steps", "2"]
    assert main([*args, *RUN, "--out", str(tmp_path)]) == 0
    name = "llama-tiny-stock-seed0"
    full = _record(tmp_path, name)
    assert full["budget"]["tokens"] == 4 * 4 * SEQ_LEN
    assert set(full["metrics"]) >= {"loss", "loss@2x", "loss@4x", "loss@8x"}
    assert len(full["items"]["loss@8x"]) == 1 and len(full["items"]["loss"]) == 8
    assert full["training"]["curve"][-1]["tokens"] == 4 * 4 * SEQ_LEN > 0
    assert full["training"]["tokens_per_second"] > 0
    assert full["details"]["parameters"]["design"] == 0
    command = full["details"]["command"]
    assert command[:2] == ["hf-archs", "pretrain"] and command[command.index("--max-steps") + 1] == "4"
    # The leaderboard reads the real record: its arm from the command, and no table of its own (a lone stock arm).
    assert [arm(r) for r in pretrain_records(tmp_path)] == ["stock"]
    board = leaderboard_markdown(tmp_path)
    assert "From scratch" not in board and "Single evaluations" not in board

    # An interrupted run: only the step-2 checkpoint is left. The rerun resumes from it and ends where the
    # uninterrupted run ended.
    run_dir = tmp_path / name
    shutil.rmtree(run_dir / "checkpoint-4")
    shutil.rmtree(run_dir / "final")
    (tmp_path / f"{name}.json").unlink()
    assert main([*args, *RUN, "--out", str(tmp_path)]) == 0
    resumed = _record(tmp_path, name)
    assert resumed["training"]["resumed_from"].endswith("checkpoint-2")
    assert [p["step"] for p in resumed["training"]["curve"]] == [3, 4]
    assert resumed["training"]["curve"][-1]["loss"] == pytest.approx(full["training"]["curve"][-1]["loss"], abs=1e-5)
    for key, value in full["metrics"].items():
        assert resumed["metrics"][key] == pytest.approx(value, rel=1e-5)


@pytest.mark.parametrize("preset, model_type", [("llama-tiny", "positional_llama"), ("bert-tiny", "continuous_bert")])
def test_design_runs_at_its_active_setting(tiny_corpus, tmp_path, preset, model_type):
    from hf_archs.registry import zoo_model_for_type

    argv = ["pretrain", "--corpus", str(tiny_corpus[0]), "--preset", preset, "--model-type", model_type]
    assert main([*argv, "--max-steps", "2", *RUN, "--out", str(tmp_path)]) == 0
    record = _record(tmp_path, f"{preset}-{model_type}-seed0")
    counts = record["details"]["parameters"]
    assert counts["design"] > 0
    assert counts["total"] == counts["embeddings"] + counts["design"] + counts["backbone"]
    assert record["details"]["design_setting"] == zoo_model_for_type(model_type).active_setting
    assert record["role"] == "design"
    assert [arm(r) for r in pretrain_records(tmp_path)] == [model_type]
    expected = {"loss", "perplexity"} | ({"loss@8x"} if preset.startswith("llama") else set())
    assert expected <= set(record["metrics"]) and np.isfinite(record["metrics"]["loss"])


def test_stock_encoder_reports_mlm_loss_only(tiny_corpus, tmp_path):
    argv = ["pretrain", "--corpus", str(tiny_corpus[0]), "--preset", "bert-tiny", "--max-steps", "2"]
    assert main([*argv, *RUN, "--out", str(tmp_path)]) == 0
    record = _record(tmp_path, "bert-tiny-stock-seed0")
    assert record["task"] == "pretrain_mlm" and set(record["metrics"]) == {"loss", "perplexity"}


def test_match_params_widens_stock_to_the_design_count(tiny_corpus):
    tokenizer = AutoTokenizer.from_pretrained(tiny_corpus[0] / "tokenizer")

    def total(config):
        return pretrain.parameter_counts(pretrain.build_model(config, "meta"))["total"]

    target = total(pretrain.model_config("llama-tiny", tokenizer, SEQ_LEN, "multiscale_llama"))
    width = pretrain.matched_intermediate_size("llama-tiny", tokenizer, SEQ_LEN, target)
    assert width > pretrain.PRESETS["llama-tiny"]["intermediate_size"]
    matched = total(pretrain.stock_config("llama-tiny", tokenizer, SEQ_LEN, intermediate_size=width))
    assert abs(matched - target) <= 0.02 * target
    with pytest.raises(ValueError, match="within 2%"):
        pretrain.matched_intermediate_size("llama-tiny", tokenizer, SEQ_LEN, 10)


@pytest.mark.slow  # six runs (about 20 s on 2 cores)
def test_leaderboard_judges_real_pretrain_records(tiny_corpus, tmp_path):
    # 16 windows at the training length leave 2 at 8x it: the paired bootstrap needs two items.
    argv = ["pretrain", "--corpus", str(tiny_corpus[0]), "--preset", "llama-tiny", "--max-steps", "1", *RUN]
    argv += ["--eval-windows", "16"]
    for seed in (0, 1, 2):
        for model_type in ("stock", "positional_llama"):
            assert main([*argv, "--model-type", model_type, "--seed", str(seed), "--out", str(tmp_path)]) == 0
    (row,) = scratch_rows(pretrain_records(tmp_path))
    assert (row.design, row.stock, row.seeds) == ("positional_llama", "stock", [0, 1, 2])
    design = _record(tmp_path, "llama-tiny-positional_llama-seed0")["details"]["parameters"]["total"]
    stock = _record(tmp_path, "llama-tiny-stock-seed0")["details"]["parameters"]["total"]
    assert (row.design_parameters, row.stock_parameters) == (design, stock) and design > stock
    assert [m.metric for m in row.metrics] == ["perplexity", "perplexity@2x", "perplexity@4x", "perplexity@8x"]
    assert all(m.bootstrap is not None for m in row.metrics)
    row_start = "| positional_llama | stock | llama-tiny | 16 | 64 | 0, 1, 2 | perplexity ↓ |"
    assert row_start in leaderboard_markdown(tmp_path)
