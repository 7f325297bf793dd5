"""LoRA fine-tuning (and compare) under `accelerate launch` with 2 CPU processes (DDP over gloo): the loss matches
single-process training within noise, and the design's parameters are trained, saved and reload identically."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from hf_archs.training import finetune_lora
from tests.evaluation.ddp_finetune import finetune_kwargs


REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ddp_finetune.py")


def launch(*args: str, processes: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "ACCELERATE_CONFIG_FILE": "/nonexistent",  # no user config: the flags below are the whole setup
    }
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), *args]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def tau_tensors(state: dict) -> dict[str, torch.Tensor]:
    return {name: value for name, value in state.items() if "semantic_tau" in name}


@pytest.mark.slow
def test_ddp_two_processes_match_single_process_and_save_design_parameters(tiny_models, tmp_path):
    design = str(tiny_models["llama_semantic"])
    steps, batch = 6, 8
    single = finetune_lora(design, "causal_lm", str(tmp_path / "single"), **finetune_kwargs(steps, batch))
    launch("finetune", "--model", design, "--out", str(tmp_path / "ddp"), "--steps", str(steps))
    ranks = [json.loads((tmp_path / "ddp" / f"rank_{r}.json").read_text()) for r in (0, 1)]

    assert single.world_size == 1 and single.per_device_batch_size == batch
    assert all(r["world_size"] == 2 and r["per_device_batch_size"] == batch // 2 for r in ranks)
    # Same global batches (accelerate shards each global batch over the processes), LoRA dropout differs: the
    # losses agree within noise, not bit for bit.
    ddp_curve = [loss for _, loss in ranks[0]["loss_curve"]]
    single_curve = [loss for _, loss in single.loss_curve]
    assert len(ddp_curve) == len(single_curve) == steps
    print(f"\nsingle-process loss curve {single_curve}\n2-process DDP loss curve  {ddp_curve}")
    assert ddp_curve == pytest.approx(single_curve, abs=0.01)  # training moves it by ~0.08 here
    assert ranks[0]["after"]["loss"] == pytest.approx(single.after["loss"], abs=0.01)
    assert ranks[0]["after"]["loss"] < ranks[0]["before"]["loss"]  # it trained
    assert ranks[0]["after"] == ranks[1]["after"]  # both processes hold the same model
    # Each process evaluated half the held-out batches; gathered in order, they give the single-process numbers.
    assert ranks[0]["before"] == pytest.approx(single.before, rel=1e-6) and ranks[0]["before"] == ranks[1]["before"]

    # The design's own parameters: trained, saved once in the adapter, reloaded identically, merged identically.
    adapter = tau_tensors(load_file(tmp_path / "ddp" / "adapter" / "adapter_model.safetensors"))
    assert adapter and ranks[0]["design_modules_trained"] == ["semantic_tau"]
    assert not all(torch.equal(v, torch.full_like(v, 0.5)) for v in adapter.values())  # moved from tau_init
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(design), tmp_path / "ddp" / "adapter")
    reloaded_tau = {n: p.detach() for n, p in reloaded.named_parameters() if "semantic_tau.modules_to_save" in n}
    assert len(reloaded_tau) == len(adapter) == 2  # one tau vector per layer of the tiny Llama
    for name, value in adapter.items():
        trained_copy = name.replace("semantic_tau.weight", "semantic_tau.modules_to_save.default.weight")
        assert torch.equal(reloaded_tau[trained_copy], value), name
    merged = tau_tensors(load_file(tmp_path / "ddp" / "merged" / "model.safetensors"))
    assert sorted(torch.cat([v.flatten() for v in merged.values()]).tolist()) == sorted(
        torch.cat([v.flatten() for v in adapter.values()]).tolist()
    )
    single_tau = tau_tensors(load_file(tmp_path / "single" / "adapter" / "adapter_model.safetensors"))
    for name, value in adapter.items():
        assert torch.allclose(value, single_tau[name], atol=5e-3), name  # same updates up to dropout noise


@pytest.mark.slow
def test_evaluation_shards_cover_every_item_once_and_gather_in_order(tmp_path):
    launch("shards", "--out", str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank_{r}.json").read_text()) for r in (0, 1)]
    # 5 items over 2 processes: 3 and 2, the second padded with a repeat of the last item (dropped from the results).
    assert ranks[0]["seen"] == [0, 1, 2] and ranks[1]["seen"] == [3, 4, 4]
    assert ranks[0]["gathered"] == ranks[1]["gathered"] == [[0, 0], [0, 1], [0, 2], [1, 3], [1, 4]]


@pytest.mark.slow
def test_compare_runs_unchanged_under_accelerate_launch(tiny_models, tmp_path):
    design, stock = str(tiny_models["llama_semantic"]), str(tiny_models["llama"])
    launch("compare", "--model", design, "--stock", stock, "--out", str(tmp_path))
    (run_dir,) = (tmp_path / "ddp").iterdir()
    data = json.loads((run_dir / "comparison.json").read_text())
    assert data["seeds"] == [0, 1] and (run_dir / "comparison.png").is_file()
    for seed in (0, 1):
        for role in ("design", "stock"):
            record = json.loads((run_dir / f"seed_{seed}" / f"{role}.json").read_text())
            assert record["training"]["world_size"] == 2
    design_record = json.loads((run_dir / "seed_0" / "design.json").read_text())
    assert design_record["training"]["design_modules_trained"] == ["semantic_tau"]
    # The command ends the process group itself: left to interpreter teardown, gloo can abort a finished run.
    for rank in (0, 1):
        assert json.loads((tmp_path / f"exit_{rank}.json").read_text()) == {"process_group_up": False}
