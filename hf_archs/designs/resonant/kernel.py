"""Fused resonant attention (squared form): flash-style Triton kernels, the resonance score computed per tile.

Math (per batch row b, head h; the features are made OUTSIDE this op, in PyTorch, by `kernel_features`):

    Res(i, j) = a · n / (s_i + s_j − n) + [n > 0] · (x / n + c / 2),    n = ⟨m_i, m_j⟩,  x = ⟨z_i, z_j⟩,  s = Σ_p m_p
    logits_h(i, j) = scaling · q_h(i)·k_h(j) + w_h · Res_h(i, j) + mask(i, j)       (pure: no q·k)
    P_h = softmax_j(logits_h),   out_h = P_h V_h

with m the 0/1 slot indicator (P per token) and z = (√b · m ⊗ sym(q), √(c/2) · m cos phi, √(c/2) · m sin phi)
(12 P per token): x / n = b · (mean of (q·q')²) + c/2 · (mean of cos(phi − phi')), so Res is the squared variant of
`naive.py` (`resonance_inner_product`) and w_h = lambda_h / temperature. Only the two inner products n and x are
computed per tile; no (B, H, Lq, Lk) tensor is ever made.

Backward, with dlogits = P ⊙ (dP − rowsum(dO ⊙ O)), dRes = w_h · dlogits, u = s_i + s_j − n, e = [n > 0]:
    G_x = e · dRes / n,   G_n = a · dRes · (u + n) / u² − e · dRes · x / n²,   G_s = −a · dRes · n / u²
    dm_i = Σ_j G_n m_j + Σ_j G_s,   dz_i = Σ_j G_x z_j   (and the same transposed for the key side)
    dw_h = Σ_ij dlogits ⊙ Res;  dq, dk, dv as in flash.
P and Res are recomputed per tile in two kernels: dk/dv/dm_k/dz_k per (key block, KV head) looping over the query
heads of its group (GQA without repeating K/V), and dq/dm_q/dz_q/dw per (query block, head). Nothing L×L is stored.
The straight-through estimator of m and the feature projection stay in PyTorch: autograd carries dm, dz back.

Masks: causal (queries are the last Lq of the Lk positions: a KV cache), a sliding window (query i sees key j iff
i − j < window) and key padding; a query row whose keys are all masked gives a zero output and zero gradients (as
stock flash does). Triton runs on CUDA, or on CPU under TRITON_INTERPRET=1 (what CI tests), in any float dtype; the
feature dots run in the features' dtype (float32 from `slot_states`; TF32 on CUDA unless the inputs are float32).
Block sizes are a first guess, not tuned on a GPU.
"""

import torch

from ...core.flash import (
    LOG2E,
    TRITON_AVAILABLE,
    blocks,
    interpreting,
    key_padding_int8,
    key_program,
    key_range,
    load_tile,
    mask_flags,
    output_grad_rowsum,
    probs_and_dlogits,
    query_program,
    query_range,
    row_stats,
    softmax_finish,
    softmax_start,
    softmax_update,
    store_tile,
    tile_valid,
)
from .naive import SlotStates, symmetric_products


if TRITON_AVAILABLE:
    import triton
    import triton.language as tl


def kernel_features(states: SlotStates, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel's per-token features of one side: m (batch, heads, L, P) and z (batch, heads, L, 12 P)."""
    _, b, c = weights
    mask = states.mask
    aligned = (mask[..., None] * symmetric_products(states.quaternion)).flatten(-2) * b**0.5
    phase = (c / 2) ** 0.5
    phasors = [mask * torch.cos(states.phase) * phase, mask * torch.sin(states.phase) * phase]
    return mask, torch.cat([aligned, *phasors], dim=-1)


if TRITON_AVAILABLE:

    @triton.jit
    def _resonance(mq, zq, mk, zk, jaccard_weight, half_phase_weight, PRECISION: tl.constexpr):
        """Res of a (BLOCK_M, BLOCK_N) tile from its rows' features, and the pieces its gradient reads."""
        n = tl.dot(mq, tl.trans(mk), input_precision=PRECISION)
        x = tl.dot(zq, tl.trans(zk), input_precision=PRECISION)
        union = tl.sum(mq, 1)[:, None] + tl.sum(mk, 1)[None, :] - n
        union = tl.where(union > 0.5, union, 1.0)  # 0 only on out-of-range rows (every real token has k slots)
        nonempty = n > 0.5
        count = tl.where(nonempty, n, 1.0)
        res = jaccard_weight * n / union + tl.where(nonempty, x / count + half_phase_weight, 0.0)
        return res, n, x, union, nonempty, count

    @triton.jit
    def _logits(res, coef2, q, k, scale2, HAS_QK: tl.constexpr, PRECISION: tl.constexpr):
        """A tile's logits in log2 units: coef2 · Res, plus q kᵀ · scale2 in the hybrid (the pure variant passes
        other tiles for q and k, never read)."""
        logits = coef2 * res
        if HAS_QK:
            logits += tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale2
        return logits

    @triton.jit
    def _p_and_dlogits(res, coef2, q, k, do, v, lse, delta, valid, scale2, HAS_QK: tl.constexpr,
                       PRECISION: tl.constexpr):  # fmt: skip
        """The backward's recomputed P tile and dlogits = P ⊙ (dO Vᵀ − rowsum(dO ⊙ O)) (zero where masked)."""
        logits = _logits(res, coef2, q, k, scale2, HAS_QK, PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        return probs_and_dlogits(logits, lse[:, None], delta[:, None], valid, dp)

    @triton.jit
    def _rows(PTR, head, offs, L, width, BLOCK: tl.constexpr):
        """Rows `offs` of head `head` (b · heads + h) of a contiguous (B, heads, L, width) tensor, zero-padded to BLOCK
        columns."""
        return load_tile(PTR + head * L * width, offs, tl.arange(0, BLOCK), width, 1, L, width)

    @triton.jit
    def _store_rows(PTR, head, value, offs, L, width, BLOCK: tl.constexpr):
        """`_rows`' inverse."""
        store_tile(PTR + head * L * width, value, offs, tl.arange(0, BLOCK), width, 1, L, width)

    @triton.jit
    def _fwd_kernel(
        Q, K, V, MQ, ZQ, MK, ZK, COEF, KPM, OUT, LSE,
        H, GROUP, Lq, Lk, D, P, W, off, window, scale2, jaccard_weight, half_phase_weight,
        HAS_QK: tl.constexpr, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_P: tl.constexpr,
        BLOCK_W: tl.constexpr,
    ):  # fmt: skip
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        bkv = b * (H // GROUP) + kvh
        mq = _rows(MQ, bh, offs_m, Lq, P, BLOCK_P)
        zq = _rows(ZQ, bh, offs_m, Lq, W, BLOCK_W)
        q = _rows(Q, bh, offs_m, Lq, D, BLOCK_D) if HAS_QK else mq
        coef2 = tl.load(COEF + h).to(tl.float32) * 1.4426950408889634
        m_i, l_i, acc = softmax_start(BLOCK_M, BLOCK_D)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            mk = _rows(MK, bh, offs_n, Lk, P, BLOCK_P)
            zk = _rows(ZK, bh, offs_n, Lk, W, BLOCK_W)
            v = _rows(V, bkv, offs_n, Lk, D, BLOCK_D)
            res, _, _, _, _, _ = _resonance(mq, zq, mk, zk, jaccard_weight, half_phase_weight, PRECISION)
            k = _rows(K, bkv, offs_n, Lk, D, BLOCK_D) if HAS_QK else v
            logits = _logits(res, coef2, q, k, scale2, HAS_QK, PRECISION)
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            p, alpha, m_i, l_i = softmax_update(logits, valid, m_i, l_i)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        out, lse = softmax_finish(acc, m_i, l_i)
        _store_rows(OUT, bh, out, offs_m, Lq, D, BLOCK_D)
        tl.store(LSE + bh * Lq + offs_m, lse, mask=offs_m < Lq)

    @triton.jit
    def _gradients(dres, n, x, union, nonempty, count, jaccard_weight):
        """dRes of a tile -> the gradients of its intersection n, its aligned product x and each side's set size."""
        squared_union = union * union
        grad_x = tl.where(nonempty, dres / count, 0.0)
        grad_n = jaccard_weight * dres * (union + n) / squared_union
        grad_n -= tl.where(nonempty, dres * x / (count * count), 0.0)
        grad_size = -jaccard_weight * dres * n / squared_union
        return grad_n, grad_x, grad_size

    @triton.jit
    def _bwd_key_kernel(
        Q, K, V, MQ, ZQ, MK, ZK, COEF, KPM, DO, LSE, DELTA, DK, DV, DMK, DZK,
        H, GROUP, Lq, Lk, D, P, W, off, window, scale2, scaling, jaccard_weight, half_phase_weight,
        HAS_QK: tl.constexpr, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_P: tl.constexpr,
        BLOCK_W: tl.constexpr,
    ):  # fmt: skip
        # dk, dv of one key block of one KV head (summed over its query heads), dm_k, dz_k of each of those heads.
        bkv, b, kvh, start_n, offs_n = key_program(H // GROUP, BLOCK_N)
        v = _rows(V, bkv, offs_n, Lk, D, BLOCK_D)
        k = _rows(K, bkv, offs_n, Lk, D, BLOCK_D) if HAS_QK else v
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        lo, hi = query_range(start_n, Lq, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for g in range(0, GROUP):
            h = kvh * GROUP + g
            bh = b * H + h
            mk = _rows(MK, bh, offs_n, Lk, P, BLOCK_P)
            zk = _rows(ZK, bh, offs_n, Lk, W, BLOCK_W)
            coef = tl.load(COEF + h).to(tl.float32)
            coef2 = coef * 1.4426950408889634
            dmk = tl.zeros([BLOCK_N, BLOCK_P], tl.float32)
            dzk = tl.zeros([BLOCK_N, BLOCK_W], tl.float32)
            dsize = tl.zeros([BLOCK_N], tl.float32)
            for start_m in range(lo, hi, BLOCK_M):
                offs_m = start_m + tl.arange(0, BLOCK_M)
                mq = _rows(MQ, bh, offs_m, Lq, P, BLOCK_P)
                zq = _rows(ZQ, bh, offs_m, Lq, W, BLOCK_W)
                do = _rows(DO, bh, offs_m, Lq, D, BLOCK_D)
                lse, delta = row_stats(LSE, DELTA, bh, Lq, offs_m)
                res, n, x, union, nonempty, count = _resonance(
                    mq, zq, mk, zk, jaccard_weight, half_phase_weight, PRECISION
                )
                q = _rows(Q, bh, offs_m, Lq, D, BLOCK_D) if HAS_QK else do
                valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
                p, dlogits = _p_and_dlogits(res, coef2, q, k, do, v, lse, delta, valid, scale2, HAS_QK, PRECISION)
                dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
                if HAS_QK:
                    dk += tl.dot(tl.trans(dlogits.to(q.dtype)), q, input_precision=PRECISION)
                grad_n, grad_x, grad_size = _gradients(coef * dlogits, n, x, union, nonempty, count, jaccard_weight)
                dmk += tl.dot(tl.trans(grad_n), mq, input_precision=PRECISION)
                dzk += tl.dot(tl.trans(grad_x.to(zq.dtype)), zq, input_precision=PRECISION)
                dsize += tl.sum(grad_size, 0)
            # The set size is the sum of the slot indicators: its gradient reaches every slot.
            _store_rows(DMK, bh, dmk + dsize[:, None], offs_n, Lk, P, BLOCK_P)
            _store_rows(DZK, bh, dzk, offs_n, Lk, W, BLOCK_W)
        _store_rows(DV, bkv, dv, offs_n, Lk, D, BLOCK_D)
        if HAS_QK:
            _store_rows(DK, bkv, dk * scaling, offs_n, Lk, D, BLOCK_D)

    @triton.jit
    def _bwd_query_kernel(
        Q, K, V, MQ, ZQ, MK, ZK, COEF, KPM, DO, LSE, DELTA, DQ, DMQ, DZQ, PART,
        H, GROUP, Lq, Lk, D, P, W, off, window, scale2, scaling, jaccard_weight, half_phase_weight,
        HAS_QK: tl.constexpr, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_P: tl.constexpr,
        BLOCK_W: tl.constexpr,
    ):  # fmt: skip
        # dq, dm_q, dz_q of one query block of one head, and this block's part of the coefficient's gradient.
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        bkv = b * (H // GROUP) + kvh
        mq = _rows(MQ, bh, offs_m, Lq, P, BLOCK_P)
        zq = _rows(ZQ, bh, offs_m, Lq, W, BLOCK_W)
        do = _rows(DO, bh, offs_m, Lq, D, BLOCK_D)
        q = _rows(Q, bh, offs_m, Lq, D, BLOCK_D) if HAS_QK else do
        lse, delta = row_stats(LSE, DELTA, bh, Lq, offs_m)
        coef = tl.load(COEF + h).to(tl.float32)
        coef2 = coef * 1.4426950408889634
        dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
        dmq = tl.zeros([BLOCK_M, BLOCK_P], tl.float32)
        dzq = tl.zeros([BLOCK_M, BLOCK_W], tl.float32)
        dsize = tl.zeros([BLOCK_M], tl.float32)
        dcoef = tl.zeros([BLOCK_M], tl.float32)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            mk = _rows(MK, bh, offs_n, Lk, P, BLOCK_P)
            zk = _rows(ZK, bh, offs_n, Lk, W, BLOCK_W)
            v = _rows(V, bkv, offs_n, Lk, D, BLOCK_D)
            res, n, x, union, nonempty, count = _resonance(
                mq, zq, mk, zk, jaccard_weight, half_phase_weight, PRECISION
            )
            k = _rows(K, bkv, offs_n, Lk, D, BLOCK_D) if HAS_QK else v
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            _, dlogits = _p_and_dlogits(res, coef2, q, k, do, v, lse, delta, valid, scale2, HAS_QK, PRECISION)
            if HAS_QK:
                dq += tl.dot(dlogits.to(k.dtype), k, input_precision=PRECISION)
            dcoef += tl.sum(dlogits * res, 1)
            grad_n, grad_x, grad_size = _gradients(coef * dlogits, n, x, union, nonempty, count, jaccard_weight)
            dmq += tl.dot(grad_n, mk, input_precision=PRECISION)
            dzq += tl.dot(grad_x.to(zk.dtype), zk, input_precision=PRECISION)
            dsize += tl.sum(grad_size, 1)
        # The set size is the sum of the slot indicators: its gradient reaches every slot.
        _store_rows(DMQ, bh, dmq + dsize[:, None], offs_m, Lq, P, BLOCK_P)
        _store_rows(DZQ, bh, dzq, offs_m, Lq, W, BLOCK_W)
        if HAS_QK:
            _store_rows(DQ, bh, dq * scaling, offs_m, Lq, D, BLOCK_D)
        tl.store(PART + bh * tl.num_programs(0) + tl.program_id(0), tl.sum(dcoef, 0))


# (BLOCK_M, BLOCK_N, num_warps, num_stages): a first guess (the z tiles are 12 P wide), never swept on a GPU.
_GPU_BLOCKS = {"fwd": (64, 32, 4, 2), "dkdv": (32, 32, 4, 1), "dq": (32, 32, 4, 1)}


def _flags(query_key, is_causal, window, kpm, dtype):
    precision = "ieee" if dtype in (torch.float32, torch.float64) else "tf32"
    return dict(HAS_QK=query_key, PRECISION=precision, **mask_flags(is_causal, window, kpm))


def _forward(q, k, v, mq, zq, mk, zk, coef, kpm, scaling, weights, is_causal, window):
    B, H, Lq, P = mq.shape
    KVH, Lk, D = v.shape[1], v.shape[2], v.shape[3]
    W = zq.shape[-1]
    out = v.new_empty(B, H, Lq, D)
    lse = torch.empty(B, H, Lq, dtype=torch.float32, device=v.device)
    meta, launch = blocks(D, "fwd", _GPU_BLOCKS, P=P, W=W)
    _fwd_kernel[(triton.cdiv(Lq, meta["BLOCK_M"]), B * H)](
        *_query_key(q, k, v), v, mq, zq, mk, zk, coef, key_padding_int8(kpm, v), out, lse,
        H, H // KVH, Lq, Lk, D, P, W, Lk - Lq, max(window, 1), scaling * LOG2E, weights[0], weights[2] / 2,
        **_flags(q is not None, is_causal, window, kpm, v.dtype), **meta, **launch,
    )  # fmt: skip
    return out, lse


def _backward(do, q, k, v, mq, zq, mk, zk, coef, kpm, out, lse, scaling, weights, is_causal, window):
    B, H, Lq, P = mq.shape
    KVH, Lk, D = v.shape[1], v.shape[2], v.shape[3]
    W = zq.shape[-1]
    do = do.contiguous()
    delta = output_grad_rowsum(do, out)
    dq, dk = (None, None) if q is None else (torch.empty_like(q), torch.empty_like(k))
    dv = torch.empty_like(v)
    dmq, dzq, dmk, dzk = (torch.empty_like(t) for t in (mq, zq, mk, zk))
    flags = _flags(q is not None, is_causal, window, kpm, v.dtype)
    sizes = (H, H // KVH, Lq, Lk, D, P, W, Lk - Lq, max(window, 1))
    factors = (scaling * LOG2E, scaling, weights[0], weights[2] / 2)
    inputs = (*_query_key(q, k, v), v, mq, zq, mk, zk, coef, key_padding_int8(kpm, v), do, lse, delta)
    # The pure variant has no dq, dk: the kernels never write those pointers then (HAS_QK is off).
    meta, launch = blocks(D, "dkdv", _GPU_BLOCKS, P=P, W=W)
    _bwd_key_kernel[(triton.cdiv(Lk, meta["BLOCK_N"]), B * KVH)](
        *inputs, dv if dk is None else dk, dv, dmk, dzk, *sizes, *factors, **flags, **meta, **launch,
    )  # fmt: skip
    meta, launch = blocks(D, "dq", _GPU_BLOCKS, P=P, W=W)
    n_m = triton.cdiv(Lq, meta["BLOCK_M"])
    part = torch.empty(B, H, n_m, dtype=torch.float32, device=v.device)
    _bwd_query_kernel[(n_m, B * H)](
        *inputs, dv if dq is None else dq, dmq, dzq, part, *sizes, *factors, **flags, **meta, **launch,
    )  # fmt: skip
    return dq, dk, dv, dmq, dzq, dmk, dzk, part.sum((0, 2))


def _query_key(q, k, v):
    # The pure variant has no q·k: the kernels never read these pointers then (HAS_QK is off).
    return (v, v) if q is None else (q, k)


class _ResonantAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mq, zq, mk, zk, coef, kpm, scaling, weights, is_causal, window):
        out, lse = _forward(q, k, v, mq, zq, mk, zk, coef, kpm, scaling, weights, is_causal, window)
        ctx.save_for_backward(q, k, v, mq, zq, mk, zk, coef, kpm, out, lse)
        ctx.args = (scaling, weights, is_causal, window)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, mq, zq, mk, zk, coef, kpm, out, lse = ctx.saved_tensors
        grads = _backward(dout, q, k, v, mq, zq, mk, zk, coef, kpm, out, lse, *ctx.args)
        return (*grads, None, None, None, None, None)


def resonant_attention_fused(
    query: torch.Tensor | None,
    key: torch.Tensor | None,
    value: torch.Tensor,
    query_mask: torch.Tensor,
    query_aligned: torch.Tensor,
    key_mask: torch.Tensor,
    key_aligned: torch.Tensor,
    coefficient: torch.Tensor,
    weights: tuple[float, float, float],
    *,
    scaling: float,
    is_causal: bool,
    key_padding_mask: torch.Tensor | None = None,
    sliding_window: int | None = None,
) -> torch.Tensor:
    """Resonant attention (squared form), (B, H, Lq, D) out.

    query (B, H, Lq, D) and key (B, KVH, Lk, D), or both None for the pure variant (no q·k); value (B, KVH, Lk, D);
    query_mask, query_aligned (B, H, Lq, P | 12 P) and key_mask, key_aligned (B, H, Lk, ·): `kernel_features` of
    each side; coefficient (H,): lambda_h / temperature; weights (a, b, c). Queries are the last Lq of the Lk
    positions. key_padding_mask (B, Lk) bool, True = may attend; sliding_window w: query i sees key j iff i − j < w.
    """
    if not TRITON_AVAILABLE or not (value.is_cuda or interpreting()):
        raise RuntimeError("The resonant kernel runs on CUDA, or on CPU under TRITON_INTERPRET=1; Triton is needed.")
    if (query is None) != (key is None):
        raise ValueError("Give both query and key (hybrid) or neither (pure).")
    heads, kv_heads = query_mask.shape[1], value.shape[1]
    if heads % kv_heads:
        raise ValueError(f"{heads} query heads are not a multiple of {kv_heads} KV heads")
    if coefficient.shape != (heads,):
        raise ValueError(f"coefficient has shape {tuple(coefficient.shape)} for {heads} heads")
    if key_padding_mask is not None:
        key_padding_mask = key_padding_mask.to(torch.bool)
    window = int(sliding_window) if sliding_window else 0
    query, key = (t.contiguous() if t is not None else None for t in (query, key))
    features = (t.contiguous() for t in (query_mask, query_aligned, key_mask, key_aligned))
    return _ResonantAttention.apply(
        query,
        key,
        value.contiguous(),
        *features,
        coefficient.to(torch.float32).contiguous(),
        key_padding_mask,
        float(scaling),
        tuple(float(w) for w in weights),
        bool(is_causal),
        window,
    )


__all__ = ["TRITON_AVAILABLE", "kernel_features", "resonant_attention_fused"]
