"""Process-group helpers so that fine-tuning and `compare` run unchanged under `accelerate launch` / `torchrun`.

On a machine without CUDA, accelerate only treats a multi-process launch as DDP over gloo when told to use the
CPU (`accelerate launch --cpu` alone starts one process unless MPI is installed). So: launch with
`accelerate launch --multi_gpu --num_processes N` (or `torchrun --nproc_per_node N`) and these helpers ask for the
CPU backend whenever several processes run without CUDA.
"""

from __future__ import annotations

import os

import torch


def world_size() -> int:
    """Processes of this run (1 unless launched by `accelerate launch` / `torchrun`)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def distributed_on_cpu() -> bool:
    """Several processes and no CUDA device: DDP must run on the CPU over gloo."""
    return world_size() > 1 and not torch.cuda.is_available()


def process_state():
    """accelerate's shared process state (initializes torch.distributed under a multi-process launch)."""
    from accelerate import PartialState

    return PartialState(cpu=distributed_on_cpu())
