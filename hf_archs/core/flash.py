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
    def load_tile(PTR, rows, cols, row_stride, col_stride, n_rows, n_cols):
        """The (len(rows), len(cols)) tile PTR[row · row_stride + col · col_stride], zeros outside n_rows × n_cols."""
        mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
        return tl.load(PTR + rows[:, None] * row_stride + cols[None, :] * col_stride, mask=mask, other=0.0)

    @triton.jit
    def store_tile(PTR, value, rows, cols, row_stride, col_stride, n_rows, n_cols):
        """`load_tile`'s inverse: value, cast to PTR's type, stored inside n_rows × n_cols."""
        mask = (rows[:, None] < n_rows) & (cols[None, :] < n_cols)
        tl.store(
            PTR + rows[:, None] * row_stride + cols[None, :] * col_stride, value.to(PTR.dtype.element_ty), mask=mask
        )

    @triton.jit
    def head_tile(PTR, strides, b, h, rows, cols, n_rows, n_cols):
        """The (rows, cols) tile of head h of batch row b of a (batch, heads, length, dim) tensor of these strides."""
        return load_tile(PTR + b * strides[0] + h * strides[1], rows, cols, strides[2], strides[3], n_rows, n_cols)

    @triton.jit
    def head_tile_t(PTR, strides, b, h, rows, cols, n_rows, n_cols):
        """`head_tile` transposed, loaded as a (cols, rows) tile."""
        return load_tile(PTR + b * strides[0] + h * strides[1], cols, rows, strides[3], strides[2], n_cols, n_rows)

    @triton.jit
    def store_head_tile(PTR, strides, b, h, value, rows, cols, n_rows, n_cols):
        """`head_tile`'s inverse: value, cast to PTR's type, stored inside n_rows × n_cols."""
        store_tile(PTR + b * strides[0] + h * strides[1], value, rows, cols, strides[2], strides[3], n_rows, n_cols)

    @triton.jit
    def query_program(H, GROUP, BLOCK_M):
        """A program of a (query block, batch row · head) grid: b·H + h, b, h, its KV head (GROUP query heads share
        one), the block's first query and its query offsets."""
        bh = tl.program_id(1)
        b = bh // H
        h = bh % H
        start_m = tl.program_id(0) * BLOCK_M
        return bh, b, h, h // GROUP, start_m, start_m + tl.arange(0, BLOCK_M)

    @triton.jit
    def key_program(KVH, BLOCK_N):
        """A program of a (key block, batch row · KV head) grid: b·KVH + KV head, b, the KV head, the block's first
        key and its key offsets."""
        bk = tl.program_id(1)
        start_n = tl.program_id(0) * BLOCK_N
        return bk, bk // KVH, bk % KVH, start_n, start_n + tl.arange(0, BLOCK_N)

    @triton.jit
    def softmax_start(BLOCK_M, BLOCK_D):
        """An online softmax before its first key tile: running max −inf, sum 0, a zero output accumulator."""
        m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
        return m_i, tl.zeros([BLOCK_M], tl.float32), tl.zeros([BLOCK_M, BLOCK_D], tl.float32)

    @triton.jit
    def softmax_update(logits, valid, m_i, l_i):
        """One key tile of the online softmax, logits in log2 units: the tile's probabilities relative to the new
        running max, the factor that rescales what is accumulated so far, the new max and the new sum. A row with no
        valid key yet keeps max −inf and sum 0 (no NaN)."""
        logits = tl.where(valid, logits, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(logits, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.exp2(logits - m_safe[:, None])
        alpha = tl.exp2(m_i - m_safe)
        return p, alpha, m_new, l_i * alpha + tl.sum(p, 1)

    @triton.jit
    def softmax_finish(acc, m_i, l_i):
        """The normalized output and the log-sum-exp (log2 units) of an online softmax; a row whose keys were all
        masked gives zeros and lse = +inf (so the backward's P is 0 there)."""
        l_safe = tl.where(l_i > 0, l_i, 1.0)
        return acc / l_safe[:, None], tl.where(l_i > 0, m_i + tl.log2(l_safe), float("inf"))

    @triton.jit
    def row_stats(LSE, DELTA, bh, Lq, offs_m):
        """The forward's log-sum-exp and rowsum(dO ⊙ O) of queries offs_m of row bh of (B·H, Lq) buffers."""
        ok = offs_m < Lq
        lse = tl.load(LSE + bh * Lq + offs_m, mask=ok, other=0.0)
        return lse, tl.load(DELTA + bh * Lq + offs_m, mask=ok, other=0.0)

    @triton.jit
    def probs_and_dlogits(logits, lse, delta, valid, dp):
        """The backward's P, recomputed from logits (log2 units) and the forward's log-sum-exp, and dlogits =
        P ⊙ (dP − rowsum(dO ⊙ O)), both zero where masked; lse and delta come broadcast along the query axis."""
        p = tl.where(valid, tl.exp2(logits - lse), 0.0)
        return p, p * (dp - delta)

    @triton.jit
    def _band(start, length, below, above, BLOCK, ALIGN, HAS_LO, HAS_HI):
        """[lo, hi) of the other axis a block [start, start + BLOCK) sees: lo = start + below (aligned down to ALIGN),
        hi = start + BLOCK + above, each within [0, length] and only where its bound applies."""
        lo = 0
        hi = length
        if HAS_LO:
            lo = tl.maximum(0, start + below)
            lo = (lo // ALIGN) * ALIGN
        if HAS_HI:
            hi = tl.minimum(length, start + BLOCK + above)
        return lo, hi

    @triton.jit
    def key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW):
        """The keys [lo, hi) a query block starting at start_m can see (lo aligned to BLOCK_N)."""
        return _band(start_m, Lk, off - window + 1, off, BLOCK_M, BLOCK_N, HAS_WINDOW, CAUSAL)

    @triton.jit
    def query_range(start_n, Lq, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW):
        """The queries [lo, hi) that can see a key block starting at start_n (lo aligned to BLOCK_M)."""
        return _band(start_n, Lq, -off, window - off - 1, BLOCK_N, BLOCK_M, CAUSAL, HAS_WINDOW)


else:
    # The kernels' modules import these names whether or not Triton is there (saved checkpoints' remote code runs
    # without it); only a kernel launch, which Triton's absence rules out first, would use them.
    tile_valid = key_range = query_range = load_tile = store_tile = head_tile = head_tile_t = store_head_tile = None
    query_program = key_program = None
    softmax_start = softmax_update = softmax_finish = row_stats = probs_and_dlogits = None


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


def blocks(D: int, kernel: str, tiles: dict | None = None, **widths: int) -> tuple[dict, dict]:
    """The tile constants (BLOCK_M, BLOCK_N, BLOCK_D) and launch options (num_warps, num_stages) of `kernel` ("fwd",
    "dkdv", "dq" or "ds") at head dim D. `tiles`: a kernel's own GPU (BLOCK_M, BLOCK_N, num_warps, num_stages) per
    kernel instead of `TUNED_TILES`' row for D; `widths`: other per-token widths, e.g. P=8 gives BLOCK_P (each padded
    like D to a power of two, at least 16)."""
    sizes = {f"BLOCK_{name}": max(16, triton.next_power_of_2(width)) for name, width in dict(D=D, **widths).items()}
    if interpreting():
        bm, bn = INTERPRETER_TILES[kernel]
        return dict(BLOCK_M=bm, BLOCK_N=bn, **sizes), {}
    if tiles is None:
        tiles = TUNED_TILES[min(c for c in TUNED_TILES if c >= sizes["BLOCK_D"])]
    bm, bn, warps, stages = tiles[kernel]
    return dict(BLOCK_M=bm, BLOCK_N=bn, **sizes), dict(num_warps=warps, num_stages=stages)


def mask_flags(is_causal: bool, window: int, key_padding_mask) -> dict:
    """The kernels' mask constants: causal, a sliding window (0: none) and key padding (a mask or None)."""
    return dict(CAUSAL=is_causal, HAS_WINDOW=window > 0, HAS_KPM=key_padding_mask is not None)


def key_padding_int8(key_padding_mask, like: torch.Tensor) -> torch.Tensor:
    """The (B, Lk) keys-to-keep as int8, what `tile_valid` reads; a one-element stand-in (never read) for None."""
    if key_padding_mask is None:
        return like.new_zeros(1, dtype=torch.int8)
    return key_padding_mask.to(torch.int8).contiguous()


def output_grad_rowsum(do: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """rowsum(dO ⊙ O) per query in float32, (B, H, Lq): the backward's DELTA."""
    return (do.float() * out.float()).sum(-1).contiguous()


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
