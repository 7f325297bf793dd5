"""The harness's masked next-token prediction stage, reuse of identical stock runs across comparisons, and budget
fingerprints that stay put when a budget does not use the fields added later."""

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, Gemma3ForCausalLM

import hf_archs.evaluation.harness as harness
from benchmarks.oscillating.encoders import decoder_to_encoders
from hf_archs.evaluation import BUDGETS, compare
from hf_archs.testing import tiny_gemma3_config
from hf_archs.training import finetune_lora


def test_budgets_without_mntp_keep_their_fingerprint():
    # The stored Gemma-3 CPU runs were made before `mntp_steps` existed: their run folders must still be found.
    budget = BUDGETS["gemma3-cpu"]
    assert budget.fingerprint() == "7670637200"
    assert "mntp_steps" not in budget.training_dict()
    with_mntp = budget.with_overrides(mntp_steps=2)
    assert with_mntp.fingerprint() != budget.fingerprint() and with_mntp.training_dict()["mntp_steps"] == 2
    assert with_mntp.with_overrides(mntp_probability=0.3).fingerprint() != with_mntp.fingerprint()
    with pytest.raises(ValueError, match="mntp"):
        budget.with_overrides(mntp_steps=-1)


@pytest.fixture(scope="module")
def tiny_encoders(minilm_dir, tmp_path_factory) -> dict[str, Path]:
    """A tiny random Gemma 3 (LM head tied to the embeddings) made into causal / bidirectional / oscillating base
    models (no LM head saved: the tied one is the embeddings), as the real Gemma-3-270m encoders are made."""
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    root = tmp_path_factory.mktemp("encoders")
    config = tiny_gemma3_config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    assert config.tie_word_embeddings
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(root / "gemma3")
    tokenizer.save_pretrained(root / "gemma3")
    with contextlib.redirect_stdout(io.StringIO()):
        return decoder_to_encoders(str(root / "gemma3"), root / "out")


@pytest.mark.slow
def test_mntp_stage_then_contrastive_and_stock_runs_reused(tiny_encoders, tmp_path, monkeypatch):
    budget = BUDGETS["ci"].with_overrides(name="ci-mntp", mntp_steps=2)
    calls = []

    def counted(model_path, task, *args, **kwargs):
        calls.append((Path(model_path).parts[-3:], task))
        return finetune_lora(model_path, task, *args, **kwargs)

    monkeypatch.setattr(harness, "finetune_lora", counted)
    stock, out = str(tiny_encoders["causal"]), tmp_path / "results"
    first = compare(tiny_encoders["bidirectional"], stock, "retrieval", budget, out=out, name="bi", seeds=[0, 1])
    # Per run: MNTP on the folder, then the contrastive stage on the MNTP-merged model.
    assert [task for _, task in calls] == ["mntp", "embedding"] * 4
    assert all(parts == ("mntp", "merged", "") or parts[-2:] == ("mntp", "merged") for parts, _ in calls[1::2])
    record = json.loads((first.run_dir / "seed_0" / "design.json").read_text())
    mntp = record["training"]["mntp"]
    assert mntp["steps"] == 2 and len(mntp["loss_curve"]) == 2 and mntp["mask_probability"] == 0.2
    assert record["training"]["objective"] == "embedding" and record["weights_hash"]

    # A second design against the same stock folder and budget reuses the stock records: only the design trains.
    calls.clear()
    second = compare(tiny_encoders["oscillating"], stock, "retrieval", budget, out=out, name="osc", seeds=[0, 1])
    assert [task for _, task in calls] == ["mntp", "embedding"] * 2
    assert all("oscillating" in parts for parts, _ in calls[::2])
    for seed in (0, 1):
        reused = json.loads((second.run_dir / f"seed_{seed}" / "stock.json").read_text())
        original = json.loads((first.run_dir / f"seed_{seed}" / "stock.json").read_text())
        assert reused["metrics"] == original["metrics"]
        assert reused["details"]["reused_from"] == str(first.run_dir / f"seed_{seed}" / "stock.json")
    assert second.metric("mrr").stock_values == first.metric("mrr").stock_values

    # Another budget, or the same folder with other weights, is not reused.
    assert harness.reusable_stock_record(out, second.run_dir, second_task(), BUDGETS["ci"], stock, 0) is None
    weights = next(Path(stock).glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))
    assert harness.reusable_stock_record(out, second.run_dir, second_task(), budget, stock, 0) is None


def second_task():
    from hf_archs.evaluation import get_task

    return get_task("retrieval")


def test_mntp_refuses_a_base_model_whose_untied_lm_head_was_not_saved(tiny_models, tmp_path):
    # The tiny Llama's LM head is untied: its base model folder has no head, and MNTP would train a random one.
    with contextlib.redirect_stdout(io.StringIO()):
        folders = decoder_to_encoders(str(tiny_models["llama"]), tmp_path / "out", {"causal": ["forward"]})
    with pytest.raises(ValueError, match="lm_head"):
        finetune_lora(str(folders["causal"]), "mntp", str(tmp_path / "run"), max_steps=1, batch_size=2, eval_size=4)
