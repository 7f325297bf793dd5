"""Pieces the designs' fused flash-style Triton kernels share: which tiles of a (query block, key block) are inside
the mask, the key range a query block visits, the tile sizes, and the key padding a boolean mask stands for.

Masks the kernels express: causal (queries are the last Lq of the Lk positions: a KV cache), a sliding window (query
i sees key j iff i − j < window) and key padding. Triton runs on CUDA, or on the CPU under TRITON_INTERPRET=1 (what
CI tests); without Triton this module still imports (`TRITON_AVAILABLE` is False) and the jit helpers are absent.
"""

import os

import torch


try:
    import triton
    import triton.language as tl

    TRITON_AVAILABLE = True
except Exception:  # pragma: no cover - triton missing
    triton = None
    tl = None
    TRITON_AVAILABLE = False

LOG2E = 1.4426950408889634


def interpreting() -> bool:
    """Whether Triton runs in its interpreter (TRITON_INTERPRET=1): the kernels then take CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


if TRITON_AVAILABLE:

    @triton.jit
    def tile_valid(
        offs_m,
        offs_n,
        b,
        KPM,
        Lq,
        Lk,
        off,
        window,
        CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr,
        HAS_KPM: tl.constexpr,
    ):
        """(BLOCK_M, BLOCK_N) booleans: query offs_m (at position offs_m + off) may see key offs_n of batch row b."""
        qpos = offs_m + off
        valid = (offs_m[:, None] < Lq) & (offs_n[None, :] < Lk)
        if CAUSAL:
            valid = valid & (offs_n[None, :] <= qpos[:, None])
        if HAS_WINDOW:
            valid = valid & ((qpos[:, None] - offs_n[None, :]) < window)
        if HAS_KPM:
            kp = tl.load(KPM + b * Lk + offs_n, mask=offs_n < Lk, other=0)
            valid = valid & (kp != 0)[None, :]
        return valid

    @triton.jit
    def key_range(
        start_m,
        Lk,
        off,
        window,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr,
    ):
        """The keys [lo, hi) a query block starting at start_m can see (lo aligned to BLOCK_N)."""
        lo = 0
        hi = Lk
        if CAUSAL:
            hi = tl.minimum(Lk, start_m + BLOCK_M + off)
        if HAS_WINDOW:
            lo = tl.maximum(0, start_m + off - window + 1)
            lo = (lo // BLOCK_N) * BLOCK_N
        return lo, hi

    @triton.jit
    def query_range(
        start_n,
        Lq,
        off,
        window,
        BLOCK_M: tl.constexpr,
        BLOCK_N: tl.constexpr,
        CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr,
    ):
        """The queries [lo, hi) that can see a key block starting at start_n (lo aligned to BLOCK_M)."""
        lo = 0
        hi = Lq
        if CAUSAL:
            lo = tl.maximum(0, start_n - off)
            lo = (lo // BLOCK_M) * BLOCK_M
        if HAS_WINDOW:
            hi = tl.minimum(Lq, start_n + BLOCK_N - 1 + window - off)
        return lo, hi


else:
    # The kernels' modules import these names whether or not Triton is there (saved checkpoints' remote code runs
    # without it); only a kernel launch, which Triton's absence rules out first, would use them.
    tile_valid = key_range = query_range = None


# (BLOCK_M, BLOCK_N, num_warps, num_stages) per kernel and head-dim class, from a sweep on an H100 of a flash kernel
# with one extra per-tile term (bf16, causal, L = 8k for head_dim 128/256, MiniLM shapes for head_dim 32); head_dim
# 64 uses the head_dim-32 row (not swept). Kernels of other terms start from them.
TUNED_TILES = {
    64: {"fwd": (64, 64, 4, 3), "dkdv": (32, 64, 4, 2), "dq": (64, 64, 4, 3), "ds": (64, 64, 4, 3)},
    128: {"fwd": (128, 64, 8, 3), "dkdv": (32, 64, 4, 2), "dq": (128, 64, 8, 3), "ds": (128, 64, 8, 2)},
    256: {"fwd": (64, 32, 4, 2), "dkdv": (64, 32, 8, 1), "dq": (32, 32, 4, 2), "ds": (32, 64, 8, 2)},
}
# Under the interpreter: small, deliberately rectangular tiles so CI exercises BLOCK_M != BLOCK_N in every kernel.
INTERPRETER_TILES = {"fwd": (32, 16), "dkdv": (16, 32), "dq": (32, 16), "ds": (16, 32)}


def blocks(D: int, kernel: str) -> tuple[dict, dict]:
    """The tile constants (BLOCK_M, BLOCK_N, BLOCK_D) and launch options (num_warps, num_stages) of `kernel` ("fwd",
    "dkdv", "dq" or "ds") at head dim D."""
    block_d = max(16, triton.next_power_of_2(D))
    if interpreting():
        bm, bn = INTERPRETER_TILES[kernel]
        return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=block_d), {}
    bm, bn, warps, stages = TUNED_TILES[min(c for c in TUNED_TILES if c >= block_d)][kernel]
    return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_D=block_d), dict(num_warps=warps, num_stages=stages)


def valid_dense(B, Lq, Lk, kpm_bool, is_causal, window, device) -> torch.Tensor:
    """The dense (B or 1, 1, Lq, Lk) boolean mask `tile_valid` computes per tile (window 0: none)."""
    qpos = torch.arange(Lq, device=device)[:, None] + (Lk - Lq)
    kpos = torch.arange(Lk, device=device)[None, :]
    valid = torch.ones(Lq, Lk, dtype=torch.bool, device=device)
    if is_causal:
        valid = valid & (kpos <= qpos)
    if window > 0:
        valid = valid & (qpos - kpos < window)
    valid = valid.view(1, 1, Lq, Lk)
    if kpm_bool is not None:
        valid = valid & kpm_bool.view(B, 1, 1, Lk)
    return valid


def key_padding_from_mask(mask, *, is_causal: bool, sliding_window: int | None) -> torch.Tensor | None:
    """(batch, Lk) keys-to-keep if the (batch, 1, Lq, Lk) `mask` — boolean (True = attend) or additive (0 = attend,
    as Transformers' eager masks) — is exactly padding ∧ causal ∧ window on the rows of real (non-padding) queries;
    None if it is some other mask (e.g. packed sequences)."""
    mask = (mask if mask.dtype == torch.bool else mask == 0)[:, 0]
    query_length, key_length = mask.shape[-2:]
    keep = mask.any(dim=1)
    structure = valid_dense(1, query_length, key_length, None, is_causal, sliding_window or 0, mask.device)[0, 0]
    rebuilt = keep[:, None, :] & structure
    real_queries = keep[:, key_length - query_length :]
    return keep if torch.equal(rebuilt[real_queries], mask[real_queries]) else None
