"""The leaderboard's from-scratch section, from fake `hf-archs pretrain` records (no training)."""

import math

import numpy as np
import pytest

from hf_archs.evaluation.leaderboard import leaderboard_markdown
from hf_archs.evaluation.records import EvalRecord
from hf_archs.evaluation.scratch import SECTION, pretrain_records, scratch_rows
from hf_archs.evaluation.stats import NO_VERDICT
from hf_archs.training.pretrain import run_name


BUDGET = {"preset": "llama-tiny", "seq_len": 16, "batch_size": 4, "steps": 4, "tokens": 256, "learning_rate": 1e-3}
PARAMETERS = {"stock": 4_000_000, "semantic_llama": 4_500_000, "stock-matching-semantic_llama": 4_480_000}
PARAMETERS["semantic_bert"] = PARAMETERS["semantic_llama"]


def _write(out, model_type, seed, match=None, better=0.0, task="pretrain_clm"):
    """One pretrain record: 8 validation windows at 1x and 4 at 2x; the design's 1x losses are `better` lower,
    its 2x losses the stock's with a symmetric perturbation (no real difference)."""
    rng = np.random.default_rng(seed)
    loss = 5.0 + rng.normal(0, 0.3, 8) - better + np.random.default_rng(100 + seed).normal(0, 0.02, 8)
    loss2 = 6.0 + rng.normal(0, 0.3, 4)
    if better:
        loss2 = loss2 + np.array([0.2, -0.2, 0.2, -0.2]) * (-1) ** seed + 0.01 * (seed - 1)
    items = {"loss": loss.tolist(), "loss@2x": loss2.tolist()} if task == "pretrain_clm" else {"loss": loss.tolist()}
    metrics = {}
    for key, values in items.items():
        metrics[key] = float(np.mean(values))
        metrics[key.replace("loss", "perplexity")] = math.exp(metrics[key])
    name = run_name(BUDGET["preset"], model_type, match, seed)
    command = ["hf-archs", "pretrain", "--preset", BUDGET["preset"], "--model-type", model_type]
    command += (["--match-params", match] if match else []) + ["--seed", str(seed), "--out", str(out), "--cpu"]
    arm = f"stock-matching-{match}" if match else model_type
    EvalRecord(
        task=task,
        model_path=str(out / name / "final"),
        config_hash="x",
        seed=seed,
        budget=BUDGET,
        metrics=metrics,
        items=items,
        weights={key: [16.0] * len(values) for key, values in items.items()},
        details={"parameters": {"total": PARAMETERS[arm]}, "command": command},
        role="stock" if model_type == "stock" else "design",
        versions={},
    ).save(out / f"{name}.json")


def _study(out, seeds):
    for seed in seeds:
        _write(out, "stock", seed)
        _write(out, "stock", seed, match="semantic_llama")
        _write(out, "semantic_llama", seed, better=0.5)


def test_section_judges_each_design_against_stock_and_matched_stock(tmp_path):
    _study(tmp_path, (0, 1, 2))
    rows = scratch_rows(pretrain_records(tmp_path))
    assert [(r.design, r.stock) for r in rows] == [
        ("semantic_llama", "stock"),
        ("semantic_llama", "stock-matching-semantic_llama"),
    ]
    for row in rows:
        assert row.seeds == [0, 1, 2] and row.design_parameters == 4_500_000
        verdicts = {m.metric: m.verdict for m in row.metrics}
        assert verdicts == {"perplexity": "better", "perplexity@2x": "no significant difference"}
        assert row.metrics[0].bootstrap is not None and "3 seeds" in row.metrics[0].t.method
    assert [r.stock_parameters for r in rows] == [4_000_000, 4_480_000]

    markdown = leaderboard_markdown(tmp_path)
    section = markdown[markdown.index(SECTION) :]
    assert "| semantic_llama | stock | llama-tiny | 16 | 256 | 0, 1, 2 | perplexity ↓ |" in section
    assert "| better | 4.50M / 4.00M (×1.12) |" in section
    assert "| better | 4.50M / 4.48M (×1.00) |" in section
    # Pretrain records are judged here, not listed again as single evaluations.
    assert "Single evaluations" not in markdown


def test_fewer_than_three_common_seeds_give_no_verdict(tmp_path):
    _study(tmp_path, (0, 1))
    _write(tmp_path, "semantic_llama", 2, better=0.5)  # a design seed without its stock pair is left out
    rows = scratch_rows(pretrain_records(tmp_path))
    assert all(r.seeds == [0, 1] for r in rows)
    assert {m.verdict for r in rows for m in r.metrics} == {NO_VERDICT}
    assert f"| {NO_VERDICT} |" in leaderboard_markdown(tmp_path)


def test_encoders_are_judged_on_their_mlm_loss(tmp_path):
    for seed in (0, 1, 2):
        _write(tmp_path, "stock", seed, task="pretrain_mlm")
        _write(tmp_path, "semantic_bert", seed, better=0.5, task="pretrain_mlm")
    (row,) = scratch_rows(pretrain_records(tmp_path))
    assert row.task == "pretrain_mlm" and [(m.metric, m.verdict) for m in row.metrics] == [("loss", "better")]
    assert row.metrics[0].design_mean == pytest.approx(row.metrics[0].stock_mean - 0.5, abs=0.05)


def test_no_section_without_pretrain_records(tmp_path):
    EvalRecord(
        task="perplexity",
        model_path="m",
        config_hash="x",
        seed=0,
        budget={"name": "smoke"},
        metrics={"loss": 1.0},
        versions={},
    ).save(tmp_path / "m.json")
    markdown = leaderboard_markdown(tmp_path)
    assert SECTION not in markdown and "| m | perplexity | smoke |" in markdown


def test_two_records_of_one_arm_and_seed_are_refused(tmp_path):
    _write(tmp_path, "stock", 0)
    _write(tmp_path / "copy", "stock", 0)
    with pytest.raises(ValueError, match="two pretrain records"):
        scratch_rows(pretrain_records(tmp_path))
