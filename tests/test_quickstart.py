"""The main job end to end on a tiny budget: convert, verify, fine-tune both models, reload, report."""

import json

import pytest


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path, capsys):
    pytest.importorskip("all_minilm_l6_v2")
    from hf_archs.quickstart import run_quickstart

    summary = run_quickstart(tmp_path, design="semantic", max_steps=3, eval_size=40)
    out = capsys.readouterr().out
    assert "hf-archs quickstart" in out and "minilm (stock)" in out
    assert summary["reloaded_class"] == "SemanticBertModel"
    assert max(summary["conversion"]["max_abs_diff"].values()) <= 1e-5
    assert summary["design_finetune"]["design_modules_trained"] == ["semantic_tau"]
    assert summary["stock_finetune"]["design_modules_trained"] == []
    saved = json.loads((tmp_path / "quickstart_report.json").read_text())
    learned = saved["learned_design_parameters"]
    assert learned == summary["learned_design_parameters"] and len(learned) == 6 and len(learned[0]) == 12


def test_quickstart_report_without_sentence_transformers():
    """Bug: the report formatted a missing sentence-embedding difference (None) and crashed at the very end."""
    from hf_archs.quickstart import _format_diff

    assert _format_diff(None).startswith("n/a") and _format_diff(2e-7) == "2.0e-07"


def test_the_quickstart_command_passes_its_options_on(monkeypatch, tmp_path):
    """`hf-archs quickstart` (what scripts/quickstart.sh runs) hands its options to `run_quickstart`."""
    from hf_archs import cli, quickstart

    calls = []
    monkeypatch.setattr(quickstart, "run_quickstart", lambda out, **kwargs: calls.append((out, kwargs)))
    argv = ["quickstart", "--out", str(tmp_path), "--design", "resonant", "--max-steps", "2", "--no-stock"]
    assert cli.main(argv) == 0
    assert calls == [(str(tmp_path), dict(design="resonant", max_steps=2, eval_size=500, compare_stock=False))]
