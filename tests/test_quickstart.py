"""The main job end to end on a tiny budget: convert, verify, fine-tune both models, reload, report."""

import json

import pytest


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path, capsys):
    pytest.importorskip("all_minilm_l6_v2")
    from hf_archs.quickstart import run_quickstart

    summary = run_quickstart(tmp_path, max_steps=3, eval_size=40)
    out = capsys.readouterr().out
    assert "hf-archs quickstart" in out and "minilm (stock)" in out
    assert summary["reloaded_class"] == "SemanticBertModel"
    assert max(summary["conversion"]["max_abs_diff"].values()) <= 1e-5
    assert summary["semantic_finetune"]["design_modules_trained"] == ["semantic_tau"]
    assert summary["stock_finetune"]["design_modules_trained"] == []
    saved = json.loads((tmp_path / "quickstart_report.json").read_text())
    assert saved["learned_tau"] == summary["learned_tau"] and len(saved["learned_tau"]) == 6
