"""Cost of a design relative to its stock model: training and inference tokens/s and peak memory.

Both models are measured in the same process, alternately, on the same real token windows; what a card shows is
the ratio design / stock. Peak memory is `torch.cuda.max_memory_allocated` above the level before the step on a
GPU, and the peak resident set size (RSS, sampled every millisecond by a thread) above the level before the step
on CPU. CPU numbers are noisy on a shared machine: read ratios far from 1 only.
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import contextmanager

import torch
from torch import nn


class _RssPeak:
    """Peak RSS of this process while the context is open, sampled by a background thread."""

    def __init__(self, interval: float = 0.001):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta(self) -> int:
        return self.peak - self.baseline


@contextmanager
def peak_memory(device: torch.device):
    """Yields a dict that receives `peak_memory_bytes` (above the level at entry) and `memory_kind`."""
    result: dict = {}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield result
        torch.cuda.synchronize(device)
        result.update(peak_memory_bytes=torch.cuda.max_memory_allocated(device) - base, memory_kind="cuda_allocated")
    else:
        try:
            sampler = _RssPeak()
        except ImportError:  # psutil missing: no memory figure rather than a wrong one
            yield result
            result.update(peak_memory_bytes=None, memory_kind="unavailable (pip install psutil)")
            return
        _release_freed_memory()  # else memory freed by an earlier step hides this one's allocations
        with sampler:
            yield result
        result.update(peak_memory_bytes=sampler.delta, memory_kind="cpu_rss_delta")


def _release_freed_memory():
    """Return freed heap memory to the OS (glibc `malloc_trim`), so that RSS growth reflects new allocations."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS deltas are then lower bounds
        pass


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_step(model: nn.Module, batch: dict[str, torch.Tensor], train: bool, repeats: int) -> dict:
    """Tokens/s (median over `repeats` timed steps after one warm-up) and peak memory of one step."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    tokens = int(batch["attention_mask"].sum())

    def step():
        if train:
            model.train()
            output = model(**batch)
            loss = output.loss if getattr(output, "loss", None) is not None else output[0].float().pow(2).mean()
            loss.backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad():
                model(**batch)

    step()  # warm-up (allocations, kernel selection)
    times = []
    with peak_memory(device) as memory:
        for _ in range(repeats):
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times.append(time.perf_counter() - start)
    return {"tokens_per_s": tokens / statistics.median(times), "seconds": times, **memory}


def cost_batch(tokenizer, budget, texts: list[str], labels: bool) -> dict[str, torch.Tensor]:
    """`cost_batch_size` real-text windows of `seq_len` tokens."""
    from .lm import token_stream

    length = budget.seq_len
    ids = token_stream(tokenizer, texts, budget.cost_batch_size * length)
    input_ids = torch.tensor(ids).view(budget.cost_batch_size, length)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    if labels:
        batch["labels"] = input_ids.clone()
    return batch


def _cost_model(model_path: str, budget, device: str, trust_remote_code: bool):
    """The model as `compare` trains it (LoRA with the budget's rank, design modules trainable) and a batch."""
    from transformers import AutoModel, AutoModelForCausalLM

    from ..checkpoints import load_tokenizer
    from ..data import wordnet_texts
    from ..training.lora import apply_lora
    from .tasks import DECODER, model_kind

    decoder = model_kind(model_path) == DECODER
    auto_class = AutoModelForCausalLM if decoder else AutoModel
    tokenizer = load_tokenizer(model_path, trust_remote_code)
    model = auto_class.from_pretrained(model_path, dtype=torch.float32, trust_remote_code=trust_remote_code)
    torch.manual_seed(0)
    model = apply_lora(
        model, r=budget.lora_r, alpha=budget.lora_alpha, dropout=0.0, target_modules=budget.lora_target_modules
    ).to(device)
    batch = cost_batch(tokenizer, budget, wordnet_texts("test"), labels=decoder)
    return model, batch


def _figures(train: dict, infer: dict) -> dict:
    mb = 1024**2
    return {
        "train_tokens_per_s": train["tokens_per_s"],
        "infer_tokens_per_s": infer["tokens_per_s"],
        "train_peak_memory_mb": None if train["peak_memory_bytes"] is None else train["peak_memory_bytes"] / mb,
        "infer_peak_memory_mb": None if infer["peak_memory_bytes"] is None else infer["peak_memory_bytes"] / mb,
    }


def measure_model_cost(model_path: str, budget, device: str = "cpu", trust_remote_code: bool = False) -> dict:
    """Absolute cost figures of one model (tokens/s, peak memory in MiB above the pre-step level)."""
    model, batch = _cost_model(model_path, budget, device, trust_remote_code)
    train = measure_step(model, batch, train=True, repeats=budget.cost_repeats)
    infer = measure_step(model, batch, train=False, repeats=budget.cost_repeats)
    return _figures(train, infer)


def compare_cost(design_path: str, stock_path: str, budget, device: str = "cpu", trust_remote_code=False) -> dict:
    """Cost of the design and its stock model measured in this process, alternating (stock, design) `cost_repeats`
    rounds so that drifts of a shared machine hit both; medians per model, ratios design / stock."""
    models = {
        "stock": _cost_model(stock_path, budget, device, trust_remote_code),
        "design": _cost_model(design_path, budget, device, trust_remote_code),
    }
    rounds: dict[str, list[dict]] = {"stock": [], "design": []}
    for _ in range(budget.cost_repeats):
        for role, (model, batch) in models.items():
            train = measure_step(model, batch, train=True, repeats=1)
            infer = measure_step(model, batch, train=False, repeats=1)
            rounds[role].append(_figures(train, infer))
    result = {"device": device, "batch": list(next(iter(models.values()))[1]["input_ids"].shape), "repeats": []}
    for role, figures in rounds.items():
        result[role] = {
            key: (None if figures[0][key] is None else statistics.median(f[key] for f in figures))
            for key in figures[0]
        }
    result["ratio"] = {
        key: (
            None
            if not result["stock"][key] or result["design"][key] is None
            else result["design"][key] / result["stock"][key]
        )
        for key in result["stock"]
    }
    result["memory_kind"] = "cuda_allocated" if device.startswith("cuda") else "cpu_rss_delta"
    result.pop("repeats")
    result["rounds"] = budget.cost_repeats
    return result
