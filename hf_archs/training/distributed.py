"""Process-group helpers so that fine-tuning and `compare` run unchanged under `accelerate launch` / `torchrun`.

On a machine without CUDA, accelerate only treats a multi-process launch as DDP over gloo when told to use the
CPU (`accelerate launch --cpu` alone starts one process unless MPI is installed). So: launch with
`accelerate launch --multi_gpu --num_processes N` (or `torchrun --nproc_per_node N`) and these helpers ask for the
CPU backend whenever several processes run without CUDA.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from accelerate.utils import gather_object, get_int_from_env


def world_size() -> int:
    """Processes of this run (1 unless launched by `accelerate launch` / `torchrun`): accelerate's count, the one
    Trainer shards batches by."""
    return process_state().num_processes


def distributed_on_cpu() -> bool:
    """Several processes and no CUDA device: DDP must run on the CPU over gloo. Decided from the launcher's
    environment, before accelerate's state exists (its backend depends on the answer)."""
    return get_int_from_env(["WORLD_SIZE"], 1) > 1 and not torch.cuda.is_available()


def process_state():
    """accelerate's shared process state (initializes torch.distributed under a multi-process launch)."""
    from accelerate import PartialState

    return PartialState(cpu=distributed_on_cpu())


def end_process_group() -> None:
    """Destroy torch.distributed's default process group if one is up: what a launched program must do before it
    exits. Left to interpreter teardown, gloo's worker threads can still hold tensors there and abort the process
    ("terminate called without an active exception", SIGABRT; pytorch/pytorch#190489), so the launcher reports a
    run that finished its work as failed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def evaluate_in_shards(items: list, evaluate: Callable[[list], list]) -> list:
    """`evaluate(items)` (one result per item) with the items split over the processes, the results gathered in
    order: every process must call it, and every process gets all results.

    Shares are padded to equal length (accelerate repeats the last item, whose result is dropped), so every process
    runs the same number of forwards, as FSDP's collective gathers need.
    """
    state = process_state()
    if state.num_processes == 1 or not items:
        return evaluate(items)
    per_process, extras = divmod(len(items), state.num_processes)
    with state.split_between_processes(items, apply_padding=True) as share:
        results = evaluate(share)
    return gather_object(results[: per_process + (state.process_index < extras)])


def gathered_trainable_state(wrapped_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters of an FSDP-wrapped model, whole (not sharded), on the CPU, by unwrapped name.

    Every process must call it (gathering is collective). Used instead of the FSDP state dict to save a PEFT
    adapter: PEFT finds its `modules_to_save` copies by module names that keep FSDP's nested-wrapper prefixes, which
    the FSDP state dict drops, so saving through it fails for any design parameter trained with the adapter.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel

    with FullyShardedDataParallel.summon_full_params(wrapped_model, writeback=False):
        return {
            name.replace("_fsdp_wrapped_module.", ""): param.detach().cpu().clone()
            for name, param in wrapped_model.named_parameters()
            if param.requires_grad
        }


def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy `state` (e.g. from `gathered_trainable_state`) into the trainable parameters of an unwrapped copy of the
    model; every trainable parameter must be covered, and nothing else."""
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    missing, unexpected = sorted(trainable - state.keys()), sorted(state.keys() - trainable)
    if missing or unexpected:
        raise RuntimeError(f"Trainable state does not match the model: missing {missing}, unexpected {unexpected}.")
    model.load_state_dict(state, strict=False)
