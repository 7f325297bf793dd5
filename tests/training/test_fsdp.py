"""FSDP (FULL_SHARD, use_orig_params, PEFT's wrap policy) on 2 CPU processes: a LoRA step of every design model type
matches the same step without FSDP, design parameters included, and the trained state gathered for saving
reproduces the sharded model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hf_archs.testing import CASES


REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("fsdp_worker.py")
# One model type per design (its first backbone): what FSDP breaks is a design reading its parameters outside a call
# of its module, which does not depend on the backbone.
FIRST_CASE_PER_DESIGN = list({case.entry.design_name: case for case in reversed(CASES)}.values())


@pytest.mark.slow
@pytest.mark.parametrize("case", FIRST_CASE_PER_DESIGN, ids=lambda case: case.id)
def test_fsdp_lora_step_matches_single_process(case, tmp_path):
    entry, variant = case.entry, case.variant
    config = entry.backbone.design_config(entry.config_class, variant.config, **entry.active_setting)
    torch.manual_seed(0)
    entry.model_classes["AutoModel"](config).save_pretrained(tmp_path / "model")

    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(WORKER), "--model", str(tmp_path / "model"), "--out", str(tmp_path)]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    for rank in (0, 1):
        figures = json.loads((tmp_path / f"rank_{rank}.json").read_text())
        assert figures["step_change"] > 1e-3  # the step really moves the output ...
        # ... and the design's parameters, if any (a side branch trains through its own outputs, not the LM loss; a
        # switch design may add parameters only in its active setting)
        moved = figures["design_step"] > 1e-4
        assert not moved if not case.changes_main_path else (moved or not case.adds_parameters)
        assert figures["design_parameters"] < 1e-6, figures
        assert figures["before"] < 1e-5, figures
        assert figures["after"] < 1e-5, figures
        assert figures["unsharded_copy"] < 1e-6, figures  # what fine-tuning saves as the adapter
