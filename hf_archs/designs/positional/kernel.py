"""Fused attention with a bias that is a function of the distance: flash-style Triton kernels, no (B, H, L, L) tensor.

Math (per batch row b, head h; positions p from the term's features, any values, per batch row):

    logits_h(i, j) = scaling · q_h(i)·k_h(j) + bias_h(i, j) + mask(i, j),  P_h = softmax_j(logits_h),  out_h = P_h V_h

with one of two bias forms:
- table: bias_h(i, j) = G[b, h, i, clamp(round(p_j − p_i), d_lo, d_hi) − d_lo], G (B, H, Lq, V) or the per-head
  G (H, V) broadcast over rows and queries, V = d_hi − d_lo + 1 (rounding half to even, as `torch.round`).
  t5: G[h] = bucket_bias[bucket(d), h] over d ∈ [d_lo, d_hi] (the buckets are constant past the bucket range, so the
  clamp is exact); relative (Shaw): G[b, h, i] = the query projection dotted with the 2K + 1 distance embeddings
  / √d_r, d ∈ [−K, K]. G is built outside with PyTorch, so autograd carries dG to the parameters.
- alibi: bias_h(i, j) = −m_h · |p_j − p_i| (unrounded), m_h per head.

Backward, with dlogits = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)): dq, dk, dv as in flash; dG[b, h, i, v] = Σ_{j: index(i, j) = v}
dlogits_h(i, j); dm_h = −Σ_ij dlogits_h(i, j) |p_j − p_i|.

Kernels: forward per (query block, b·h); dk/dv per (key block, b·KV head) looping over the query heads of its group
(GQA without repeating K/V); dq per (query block, b·h), which also reduces dG or dm. The dG reduction: the dq program
owns the rows (b, h, i) of its query block, so nothing else writes them. The two end indices (every clipped distance)
are summed in registers per row (masked row sums, no atomics); the V − 2 interior indices take `tl.atomic_add` into a
(B, H, Lq, V) float32 buffer, only on tiles where some valid pair lies inside the range. With distinct positions per
row each (i, v) gets at most one addend per key, so the atomics do not contend; their number is bounded by
B·H·Lq·(V − 2) (a band of 2-3 key tiles around the diagonal for contiguous positions), not by L². Memory: the dG
buffer, B·H·Lq·V·4 bytes (t5 decoder: V = 129, 4 · 129 bytes per query and head: 135 MiB at 32 heads, L = 8k), summed
over (b, i) afterwards for a per-head G; alibi keeps one float per (b, h, query block).

Dispatch: CUDA runs the Triton kernels in any float dtype (float32 with IEEE products); under TRITON_INTERPRET=1 CPU
tensors run the same kernels in the interpreter (what CI tests). Elsewhere (CPU without the interpreter, no Triton)
the op refuses; the attention function (`attention.py`) decides what to do instead. A query row whose keys are all
masked gives a zero output and zero gradients (as stock flash does). Positions get no gradient.
"""

import torch

from ...core.flash import (
    TRITON_AVAILABLE,
    blocks,
    head_tile,
    head_tile_t,
    interpreting,
    key_padding_int8,
    key_program,
    key_range,
    mask_flags,
    output_grad_rowsum,
    probs_and_dlogits,
    query_program,
    query_range,
    row_stats,
    softmax_finish,
    softmax_start,
    softmax_update,
    store_head_tile,
    tile_valid,
)


if TRITON_AVAILABLE:
    import triton
    import triton.language as tl

ALIBI, TABLE = 0, 1


def kernel_runs_on(q: torch.Tensor) -> bool:
    """Whether the Triton kernels can run on q's device: CUDA, or the CPU under TRITON_INTERPRET=1."""
    return TRITON_AVAILABLE and (q.is_cuda != interpreting())


if TRITON_AVAILABLE:

    @triton.jit
    def _round_half_even(d):
        r = tl.floor(d + 0.5)
        odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
        return tl.where(((r - d) == 0.5) & odd, r - 1.0, r)

    @triton.jit
    def _mm(a, b, PRECISION: tl.constexpr, WIDEN: tl.constexpr):
        # One return after a static if/else: Triton's code generator would emit both returns of an early one.
        if WIDEN:  # bf16 under the interpreter, whose tl.dot misreads bf16 operands (Triton 3.9): exact in float32
            out = tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
        else:
            out = tl.dot(a, b, input_precision=PRECISION)
        return out

    @triton.jit
    def _p_and_ds(q, kt, vt, do, bias, lse, delta, valid, scaling, PRECISION: tl.constexpr, WIDEN: tl.constexpr):
        """The backward's recomputed P tile and dlogits = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)) (zero where masked)."""
        qk = (_mm(q, kt, PRECISION, WIDEN) * scaling + bias) * 1.4426950408889634
        return probs_and_dlogits(qk, lse[:, None], delta[:, None], valid, _mm(do, vt, PRECISION, WIDEN))

    @triton.jit
    def _bias(TABLE_PTR, st, QP, KP, b, h, offs_m, offs_n, Lq, Lk, d_lo, d_hi, MODE: tl.constexpr):
        """(bias tile in float32, table index tile or the distance tile) of queries offs_m, keys offs_n; st: the
        table's (batch, head, query) strides."""
        qp = tl.load(QP + b * Lq + offs_m, mask=offs_m < Lq, other=0.0)
        kp = tl.load(KP + b * Lk + offs_n, mask=offs_n < Lk, other=0.0)
        d = kp[None, :] - qp[:, None]
        if MODE == 0:
            bias = -tl.load(TABLE_PTR + h).to(tl.float32) * tl.abs(d)
            where = d
        else:
            where = (tl.minimum(tl.maximum(_round_half_even(d), d_lo), d_hi) - d_lo).to(tl.int32)
            ok = (offs_m[:, None] < Lq) & (offs_n[None, :] < Lk)
            bias = tl.load(TABLE_PTR + b * st[0] + h * st[1] + offs_m[:, None] * st[2] + where, mask=ok, other=0.0)
        return bias.to(tl.float32), where

    # Each kernel takes the strides of a tensor as one tuple (batch, head, position, dim); q and dO share q's.
    @triton.jit
    def _fwd_kernel(
        Q, K, V, QP, KP, TABLE_PTR, KPM, OUT, LSE, sq, sk, sv, so, st,
        H, GROUP, Lq, Lk, D, off, window, scaling, d_lo, d_hi,
        MODE: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr, CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
        m_i, l_i, acc = softmax_start(BLOCK_M, BLOCK_D)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            kt = head_tile_t(K, sk, b, kvh, offs_n, offs_d, Lk, D)
            v = head_tile(V, sv, b, kvh, offs_n, offs_d, Lk, D)
            bias, _ = _bias(TABLE_PTR, st, QP, KP, b, h, offs_m, offs_n, Lq, Lk, d_lo, d_hi, MODE)
            qk = (_mm(q, kt, PRECISION, WIDEN) * scaling + bias) * 1.4426950408889634
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            p, alpha, m_i, l_i = softmax_update(qk, valid, m_i, l_i)
            acc = acc * alpha[:, None] + _mm(p.to(v.dtype), v, PRECISION, WIDEN)
        out, lse = softmax_finish(acc, m_i, l_i)
        store_head_tile(OUT, so, b, h, out, offs_m, offs_d, Lq, D)
        tl.store(LSE + bh * Lq + offs_m, lse, mask=offs_m < Lq)

    @triton.jit
    def _bwd_dkdv_kernel(
        Q, K, V, QP, KP, TABLE_PTR, KPM, DO, LSE, DELTA, DK, DV, sq, sk, sv, sdk, st,
        H, KVH, GROUP, Lq, Lk, D, off, window, scaling, d_lo, d_hi,
        MODE: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr, CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        # dk and dv share the strides sdk.
        bk, b, kvh, start_n, offs_n = key_program(KVH, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        kt = head_tile_t(K, sk, b, kvh, offs_n, offs_d, Lk, D)
        vt = head_tile_t(V, sv, b, kvh, offs_n, offs_d, Lk, D)
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        lo, hi = query_range(start_n, Lq, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for g in range(0, GROUP):
            h = kvh * GROUP + g
            for start_m in range(lo, hi, BLOCK_M):
                offs_m = start_m + tl.arange(0, BLOCK_M)
                q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
                do = head_tile(DO, sq, b, h, offs_m, offs_d, Lq, D)
                lse, delta = row_stats(LSE, DELTA, b * H + h, Lq, offs_m)
                bias, _ = _bias(TABLE_PTR, st, QP, KP, b, h, offs_m, offs_n, Lq, Lk, d_lo, d_hi, MODE)
                valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
                p, ds = _p_and_ds(q, kt, vt, do, bias, lse, delta, valid, scaling, PRECISION, WIDEN)
                dv += _mm(tl.trans(p.to(do.dtype)), do, PRECISION, WIDEN)
                dk += _mm(tl.trans(ds.to(q.dtype)), q, PRECISION, WIDEN)
        store_head_tile(DK, sdk, b, kvh, dk * scaling, offs_n, offs_d, Lk, D)
        store_head_tile(DV, sdk, b, kvh, dv, offs_n, offs_d, Lk, D)

    @triton.jit
    def _bwd_dq_kernel(
        Q, K, V, QP, KP, TABLE_PTR, KPM, DO, LSE, DELTA, DQ, DG, PART, sq, sk, sv, sdq, st,
        H, GROUP, Lq, Lk, D, off, window, scaling, d_lo, d_hi,
        MODE: tl.constexpr, PRECISION: tl.constexpr, WIDEN: tl.constexpr, CAUSAL: tl.constexpr,
        HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        # DG (B, H, Lq, V) float32 zeros (table); PART (B·H, query blocks) (alibi).
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        m_ok = offs_m < Lq
        q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
        do = head_tile(DO, sq, b, h, offs_m, offs_d, Lq, D)
        lse, delta = row_stats(LSE, DELTA, bh, Lq, offs_m)
        dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
        last = d_hi - d_lo
        dg_rows = DG + (bh * Lq + offs_m) * (last + 1)
        first_sum = tl.zeros([BLOCK_M], tl.float32)  # dG at index 0: every distance <= d_lo
        last_sum = tl.zeros([BLOCK_M], tl.float32)  # dG at index V − 1: every distance >= d_hi
        slope_sum = tl.zeros([BLOCK_M], tl.float32)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            k = head_tile(K, sk, b, kvh, offs_n, offs_d, Lk, D)
            vt = head_tile_t(V, sv, b, kvh, offs_n, offs_d, Lk, D)
            bias, where = _bias(TABLE_PTR, st, QP, KP, b, h, offs_m, offs_n, Lq, Lk, d_lo, d_hi, MODE)
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            _, ds = _p_and_ds(q, tl.trans(k), vt, do, bias, lse, delta, valid, scaling, PRECISION, WIDEN)
            dq += _mm(ds.to(k.dtype), k, PRECISION, WIDEN)
            if MODE == 0:
                slope_sum += tl.sum(-ds * tl.abs(where), 1)
            else:
                first_sum += tl.sum(tl.where(where == 0, ds, 0.0), 1)
                last_sum += tl.sum(tl.where(where == last, ds, 0.0), 1)
                inside = valid & (where > 0) & (where < last)
                if tl.max(tl.max(inside.to(tl.int32), 1), 0) > 0:
                    tl.atomic_add(dg_rows[:, None] + where, ds, mask=inside)
        store_head_tile(DQ, sdq, b, h, dq * scaling, offs_m, offs_d, Lq, D)
        if MODE == 0:
            tl.store(PART + bh * tl.num_programs(0) + tl.program_id(0), tl.sum(slope_sum, 0))
        else:
            tl.store(dg_rows, first_sum, mask=m_ok)
            tl.store(dg_rows + last, last_sum, mask=m_ok)


def _launch_blocks(q, D, kernel):
    """The shared tiles (`core.flash.blocks`, swept for bf16 on an H100); 4-byte operands take half the query rows
    and at most 2 stages, within the H100's 227 KiB of shared memory (float32 dq at head_dim 128 asked 257 KiB with
    bf16's)."""
    meta, launch = blocks(D, kernel)
    if q.element_size() > 2 and launch:
        meta = dict(meta, BLOCK_M=max(16, meta["BLOCK_M"] // 2))
        launch = dict(launch, num_stages=min(2, launch["num_stages"]))
    return meta, launch


def _flags(q, kpm, is_causal, window):
    precision = "ieee" if q.dtype in (torch.float32, torch.float64) else "tf32"
    widen = q.dtype == torch.bfloat16 and interpreting()
    return dict(PRECISION=precision, WIDEN=widen, **mask_flags(is_causal, window, kpm))


def _table_strides(table, mode):
    """(batch, head, query) strides of the table in elements; 0 where a per-head table is broadcast."""
    if mode == ALIBI or table.dim() == 2:
        return 0, table.stride(0) if mode == TABLE else 0, 0
    return table.stride(0), table.stride(1), table.stride(2)


def _prepare(q, k, qpos, kpos, table, kpm, mode):
    return qpos.float().contiguous(), kpos.float().contiguous(), table.contiguous(), key_padding_int8(kpm, q)


def _triton_forward(q, k, v, qpos, kpos, table, kpm, mode, d_lo, d_hi, scaling, is_causal, window):
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    qpos, kpos, table, kpm_int = _prepare(q, k, qpos, kpos, table, kpm, mode)
    out = torch.empty_like(q)
    lse = torch.empty(B, H, Lq, dtype=torch.float32, device=q.device)
    meta, launch = _launch_blocks(q, D, "fwd")
    _fwd_kernel[(triton.cdiv(Lq, meta["BLOCK_M"]), B * H)](
        q, k, v, qpos, kpos, table, kpm_int, out, lse,
        q.stride(), k.stride(), v.stride(), out.stride(), _table_strides(table, mode),
        H, H // KVH, Lq, Lk, D, Lk - Lq, max(window, 1), scaling, d_lo, d_hi,
        MODE=mode, **_flags(q, kpm, is_causal, window), **meta, **launch,
    )  # fmt: skip
    return out, lse


def _triton_backward(do, q, k, v, qpos, kpos, table, kpm, out, lse, mode, d_lo, d_hi, scaling, is_causal, window):
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    qpos, kpos, table, kpm_int = _prepare(q, k, qpos, kpos, table, kpm, mode)
    q, k, v, do = q.contiguous(), k.contiguous(), v.contiguous(), do.contiguous()
    delta = output_grad_rowsum(do, out)
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    strides = (q.stride(), k.stride(), v.stride())
    table_strides = _table_strides(table, mode)
    sizes = (Lq, Lk, D, Lk - Lq, max(window, 1), scaling, d_lo, d_hi)
    flags = dict(MODE=mode, **_flags(q, kpm, is_causal, window))
    meta, launch = _launch_blocks(q, D, "dkdv")
    _bwd_dkdv_kernel[(triton.cdiv(Lk, meta["BLOCK_N"]), B * KVH)](
        q, k, v, qpos, kpos, table, kpm_int, do, lse, delta, dk, dv, *strides, dk.stride(), table_strides,
        H, KVH, H // KVH, *sizes, **flags, **meta, **launch,
    )  # fmt: skip
    meta, launch = _launch_blocks(q, D, "dq")
    n_m = triton.cdiv(Lq, meta["BLOCK_M"])
    width = d_hi - d_lo + 1 if mode == TABLE else 1
    dg = torch.zeros(B, H, Lq if mode == TABLE else 1, width, dtype=torch.float32, device=q.device)
    part = torch.zeros(B * H, n_m if mode == ALIBI else 1, dtype=torch.float32, device=q.device)
    _bwd_dq_kernel[(n_m, B * H)](
        q, k, v, qpos, kpos, table, kpm_int, do, lse, delta, dq, dg, part, *strides, dq.stride(), table_strides,
        H, H // KVH, *sizes, **flags, **meta, **launch,
    )  # fmt: skip
    if mode == ALIBI:
        dtable = part.view(B, H, n_m).sum((0, 2))
    else:
        dtable = dg.sum((0, 2)) if table.dim() == 2 else dg
    return dq, dk, dv, dtable.to(table.dtype)


def _check(q, k, table, mode, d_lo, d_hi):
    if not kernel_runs_on(q):
        raise RuntimeError(
            "The distance-bias Triton kernel runs on CUDA, or on the CPU under TRITON_INTERPRET=1 (set before triton "
            "is imported)" + ("" if TRITON_AVAILABLE else "; Triton is not installed") + "."
        )
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"{q.shape[1]} query heads are not a multiple of {k.shape[1]} KV heads")
    if mode == TABLE:
        B, H, Lq = q.shape[:3]
        shapes = ((H, d_hi - d_lo + 1), (B, H, Lq, d_hi - d_lo + 1))
        if d_hi - d_lo < 1 or tuple(table.shape) not in shapes:
            raise ValueError(f"table of shape {tuple(table.shape)} for distances [{d_lo}, {d_hi}]: expected {shapes}")
    elif tuple(table.shape) != (q.shape[1],):
        raise ValueError(f"alibi takes one slope per head: got {tuple(table.shape)} for {q.shape[1]} heads")


@torch.library.custom_op("hf_archs::distance_bias_attention_fwd", mutates_args=())
def _fwd_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    qpos: torch.Tensor,
    kpos: torch.Tensor,
    table: torch.Tensor,
    kpm: torch.Tensor | None,
    mode: int,
    d_lo: int,
    d_hi: int,
    scaling: float,
    is_causal: bool,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    return _triton_forward(q, k, v, qpos, kpos, table, kpm, mode, d_lo, d_hi, scaling, is_causal, window)


@_fwd_op.register_fake
def _(q, k, v, qpos, kpos, table, kpm, mode, d_lo, d_hi, scaling, is_causal, window):
    B, H, Lq, _ = q.shape
    return torch.empty_like(q), q.new_empty(B, H, Lq, dtype=torch.float32)


@torch.library.custom_op("hf_archs::distance_bias_attention_bwd", mutates_args=())
def _bwd_op(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    qpos: torch.Tensor,
    kpos: torch.Tensor,
    table: torch.Tensor,
    kpm: torch.Tensor | None,
    out: torch.Tensor,
    lse: torch.Tensor,
    mode: int,
    d_lo: int,
    d_hi: int,
    scaling: float,
    is_causal: bool,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return _triton_backward(
        do, q, k, v, qpos, kpos, table, kpm, out, lse, mode, d_lo, d_hi, scaling, is_causal, window
    )


@_bwd_op.register_fake
def _(do, q, k, v, qpos, kpos, table, kpm, out, lse, mode, d_lo, d_hi, scaling, is_causal, window):
    return tuple(torch.empty_like(t) for t in (q, k, v, table))


def _setup_context(ctx, inputs, output):
    q, k, v, qpos, kpos, table, kpm, *args = inputs
    ctx.save_for_backward(q, k, v, qpos, kpos, table, output[0], output[1])
    ctx.kpm = kpm
    ctx.args = args


def _backward(ctx, dout, dlse):
    q, k, v, qpos, kpos, table, out, lse = ctx.saved_tensors
    dq, dk, dv, dtable = _bwd_op(dout, q, k, v, qpos, kpos, table, ctx.kpm, out, lse, *ctx.args)
    return dq, dk, dv, None, None, dtable, None, None, None, None, None, None, None


_fwd_op.register_autograd(_backward, setup_context=_setup_context)


def distance_bias_attention(
    query, key, value, query_positions, key_positions, table, *, mode, d_lo=0, d_hi=0, scaling, is_causal,
    key_padding_mask=None, sliding_window=None,
):  # fmt: skip
    """Attention with a distance bias, (B, H, Lq, D) out, differentiable in query, key, value and table.

    query (B, H, Lq, D); key, value (B, KVH, Lk, D); queries are the last Lq of the Lk keys (causal mask, windows).
    query_positions (B, Lq), key_positions (B, Lk): float positions. mode ALIBI: table = slopes (H,); mode TABLE:
    table (H, V) or (B, H, Lq, V) over distances d_lo … d_hi (V = d_hi − d_lo + 1). key_padding_mask: (B, Lk) bool,
    True = may attend. sliding_window w: query i sees key j iff i − j < w.
    """
    _check(query, key, table, mode, d_lo, d_hi)
    if key_padding_mask is not None:
        key_padding_mask = key_padding_mask.to(torch.bool)
    window = int(sliding_window) if sliding_window else 0
    out, _ = _fwd_op(
        query, key, value, query_positions.float(), key_positions.float(), table, key_padding_mask, mode, d_lo, d_hi,
        float(scaling), bool(is_causal), window,
    )  # fmt: skip
    return out


__all__ = ["ALIBI", "TABLE", "TRITON_AVAILABLE", "distance_bias_attention", "kernel_runs_on"]
