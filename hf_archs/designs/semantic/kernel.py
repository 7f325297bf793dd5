"""Fused semantic attention: flash-style Triton kernels with the shared L×L cosine term.

Math (per batch row b, head h; x̂ = unit-normalized attention inputs, normalized OUTSIDE this op):

    logits_h(i, j) = scaling · q_h(i)·k_h(j) + tau_h · S(i, j) + mask(i, j),   S = x̂_q x̂_kᵀ  (one matrix for all heads)
    P_h = softmax_j(logits_h),   out_h = P_h V_h

Backward, with dlogits_h = P_h ⊙ (dP_h − rowsum(dO_h ⊙ O_h)) and dP_h = dO_h V_hᵀ:
    dS = Σ_h tau_h dlogits_h,  dx̂_q = dS x̂_k,  dx̂_k = dSᵀ x̂_q,  dtau_h = Σ_ij dlogits_h ⊙ S,  dq/dk/dv as in flash.

Route (FLOP units = one all-heads QKᵀ; stock flash: fwd 2, bwd 5 with atomics-free dq recompute ≈ 5-7):
  forward   S = x̂_q x̂_kᵀ by cuBLAS into ONE (B, Lq, Lk) buffer in the input dtype (1 unit; the full matrix is
            computed, upper tiles are not skipped), then a flash-style forward per (query block, head) that adds
            tau_h·S tile by tile (2 units), saves the log-sum-exp. S is freed when the forward returns.
  backward  S recomputed (1 unit) into one buffer; a dk/dv kernel per (key block, KV head) looping over the query
            heads of its group (GQA without repeating K/V; 4 units); a dq kernel per (query block, head) (3 units);
            a "dS kernel" per (query block, key block) that loops over all heads inside the program, recomputes P_h
            and dP_h, accumulates dS = Σ_h tau_h dlogits_h in registers (no atomics) plus per-program partials of
            dtau_h, and overwrites the S tile in place with dS (2 units); dx̂_q, dx̂_k as two cuBLAS matmuls (2 units).
  Total ≈ 3 + 12 = 15 units vs 7 for flash (≈ 2.1x in FLOPs; causal tiles above the diagonal are skipped by the
  Triton kernels, not by the S matmuls). Peak memory: flash's + ONE (B, Lq, Lk) buffer, transient in fwd and bwd
  (nothing L×L is kept between forward and backward).

Measured (H100, bf16, benchmarks/results/semantic_kernel_NVIDIA_H100_80GB_HBM3.txt): Llama-8B-like layer, causal,
fwd+bwd 1.86x / 1.87x / 1.97x / 2.15x stock flash at L = 2k / 4k / 8k / 16k, 3.2-4.8x faster than the SDPA-bias
path, peak memory flash's + about one L×L buffer (1227 vs 1220 + 512 MiB at 16k). Small grids (Gemma-3-270m's one KV
head at 2k, MiniLM) are 3-4.5x flash: the dk/dv kernel has B·KVH·L/BLOCK_N programs and launch overheads dominate.

Limits: the three backward attention kernels each recompute P (a fused dq/dk/dv/dS kernel would save 2-4 units but
needs cross-head or cross-program reductions); the S buffer is O(L²) (B·L²·2 bytes: 512 MiB at L = 16k); dS is
rounded to the input dtype before the dx̂ matmuls; block sizes come from one sweep on an H100
(`core.flash.TUNED_TILES`), not autotuned per shape.

Dispatch: CUDA bf16/fp16 run the Triton kernels; under TRITON_INTERPRET=1 CPU tensors (any float dtype) run the
same Triton kernels in the interpreter (that is what CI tests); everything else (fp32 on CUDA, CPU without the
interpreter, triton absent) runs a dense PyTorch path inside the same custom op (O(H·L²) memory; correct, not fast).
A query row whose keys are all masked gives a zero output and zero gradients (as stock flash does).
"""

import torch

from ...core.flash import (
    LOG2E,
    TRITON_AVAILABLE,
    blocks,
    head_tile,
    head_tile_t,
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
    store_head_tile,
    store_tile,
    tile_valid,
    valid_dense,
)


if TRITON_AVAILABLE:
    import triton
    import triton.language as tl


def kernel_runs_on(q: torch.Tensor) -> bool:
    """Whether the Triton kernels run for q: CUDA in bf16/fp16, or the CPU under TRITON_INTERPRET=1 (any dtype)."""
    if not TRITON_AVAILABLE:
        return False
    if q.is_cuda:
        return q.dtype in (torch.bfloat16, torch.float16) and not interpreting()
    return interpreting()


if TRITON_AVAILABLE:
    # Each kernel takes the strides of a tensor as one tuple: (batch, head, position, dim), S's (batch, query, key);
    # q and dO share q's, dk and dv dk's.
    @triton.jit
    def _fwd_kernel(
        Q, K, V, S, TAU, KPM, OUT, LSE, sq, sk, sv, ss, so,
        H, GROUP, Lq, Lk, D, off, window, scale2,
        CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
        tau2 = tl.load(TAU + h).to(tl.float32) * 1.4426950408889634
        m_i, l_i, acc = softmax_start(BLOCK_M, BLOCK_D)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            kt = head_tile_t(K, sk, b, kvh, offs_n, offs_d, Lk, D)
            v = head_tile(V, sv, b, kvh, offs_n, offs_d, Lk, D)
            s = load_tile(S + b * ss[0], offs_m, offs_n, ss[1], ss[2], Lq, Lk).to(tl.float32)
            qk = tl.dot(q, kt) * scale2 + tau2 * s
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            p, alpha, m_i, l_i = softmax_update(qk, valid, m_i, l_i)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        out, lse = softmax_finish(acc, m_i, l_i)
        store_head_tile(OUT, so, b, h, out, offs_m, offs_d, Lq, D)
        tl.store(LSE + bh * Lq + offs_m, lse, mask=offs_m < Lq)

    @triton.jit
    def _bwd_dkdv_kernel(
        Q, K, V, S, TAU, KPM, DO, LSE, DELTA, DK, DV, sq, sk, sv, ss, sdk,
        H, KVH, GROUP, Lq, Lk, D, off, window, scale2, scaling,
        CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        # Keys along the rows: P, S and dlogits are computed transposed, (BLOCK_N, BLOCK_M).
        bk, b, kvh, start_n, offs_n = key_program(KVH, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        k = head_tile(K, sk, b, kvh, offs_n, offs_d, Lk, D)
        v = head_tile(V, sv, b, kvh, offs_n, offs_d, Lk, D)
        dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        dv = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
        lo, hi = query_range(start_n, Lq, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for g in range(0, GROUP):
            h = kvh * GROUP + g
            tau2 = tl.load(TAU + h).to(tl.float32) * 1.4426950408889634
            for start_m in range(lo, hi, BLOCK_M):
                offs_m = start_m + tl.arange(0, BLOCK_M)
                qt = head_tile_t(Q, sq, b, h, offs_m, offs_d, Lq, D)
                do = head_tile(DO, sq, b, h, offs_m, offs_d, Lq, D)
                lse, delta = row_stats(LSE, DELTA, b * H + h, Lq, offs_m)
                st = load_tile(S + b * ss[0], offs_n, offs_m, ss[2], ss[1], Lk, Lq).to(tl.float32)
                qkt = tl.dot(k, qt) * scale2 + tau2 * st
                valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
                dpt = tl.dot(v, tl.trans(do))
                pt, dst = probs_and_dlogits(qkt, lse[None, :], delta[None, :], tl.trans(valid), dpt)
                dv += tl.dot(pt.to(do.dtype), do)
                dk += tl.dot(dst.to(qt.dtype), tl.trans(qt))
        store_head_tile(DK, sdk, b, kvh, dk * scaling, offs_n, offs_d, Lk, D)
        store_head_tile(DV, sdk, b, kvh, dv, offs_n, offs_d, Lk, D)

    @triton.jit
    def _bwd_dq_kernel(
        Q, K, V, S, TAU, KPM, DO, LSE, DELTA, DQ, sq, sk, sv, ss, sdq,
        H, GROUP, Lq, Lk, D, off, window, scale2, scaling,
        CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        bh, b, h, kvh, start_m, offs_m = query_program(H, GROUP, BLOCK_M)
        offs_d = tl.arange(0, BLOCK_D)
        q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
        do = head_tile(DO, sq, b, h, offs_m, offs_d, Lq, D)
        lse, delta = row_stats(LSE, DELTA, bh, Lq, offs_m)
        tau2 = tl.load(TAU + h).to(tl.float32) * 1.4426950408889634
        dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
        lo, hi = key_range(start_m, Lk, off, window, BLOCK_M, BLOCK_N, CAUSAL, HAS_WINDOW)
        for start_n in range(lo, hi, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            k = head_tile(K, sk, b, kvh, offs_n, offs_d, Lk, D)
            vt = head_tile_t(V, sv, b, kvh, offs_n, offs_d, Lk, D)
            s = load_tile(S + b * ss[0], offs_m, offs_n, ss[1], ss[2], Lq, Lk).to(tl.float32)
            qk = tl.dot(q, tl.trans(k)) * scale2 + tau2 * s
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            _, ds = probs_and_dlogits(qk, lse[:, None], delta[:, None], valid, tl.dot(do, vt))
            dq += tl.dot(ds.to(k.dtype), k)
        store_head_tile(DQ, sdq, b, h, dq * scaling, offs_m, offs_d, Lq, D)

    @triton.jit
    def _bwd_ds_kernel(
        Q, K, V, S, TAU, KPM, DO, LSE, DELTA, PART, sq, sk, sv, ss,
        H, GROUP, Lq, Lk, D, off, window, scale2,
        CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr, HAS_KPM: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ):  # fmt: skip
        # One program per (query block, key block, batch row): loops over ALL heads, writes dS over the S tile.
        pid_m = tl.program_id(0)
        pid_n = tl.program_id(1)
        b = tl.program_id(2)
        start_m = pid_m * BLOCK_M
        start_n = pid_n * BLOCK_N
        offs_m = start_m + tl.arange(0, BLOCK_M)
        offs_n = start_n + tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        part = PART + ((b * tl.num_programs(0) + pid_m) * tl.num_programs(1) + pid_n) * H
        live = start_n < Lk
        if CAUSAL:
            live = live & (start_n <= start_m + BLOCK_M - 1 + off)
        if HAS_WINDOW:
            live = live & (start_m + off - (start_n + BLOCK_N - 1) < window)
        if live:
            s = load_tile(S + b * ss[0], offs_m, offs_n, ss[1], ss[2], Lq, Lk).to(tl.float32)
            valid = tile_valid(offs_m, offs_n, b, KPM, Lq, Lk, off, window, CAUSAL, HAS_WINDOW, HAS_KPM)
            ds_acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
            for h in range(0, H):
                kvh = h // GROUP
                tau = tl.load(TAU + h).to(tl.float32)
                q = head_tile(Q, sq, b, h, offs_m, offs_d, Lq, D)
                do = head_tile(DO, sq, b, h, offs_m, offs_d, Lq, D)
                kt = head_tile_t(K, sk, b, kvh, offs_n, offs_d, Lk, D)
                vt = head_tile_t(V, sv, b, kvh, offs_n, offs_d, Lk, D)
                lse, delta = row_stats(LSE, DELTA, b * H + h, Lq, offs_m)
                qk = tl.dot(q, kt) * scale2 + (tau * 1.4426950408889634) * s
                _, ds = probs_and_dlogits(qk, lse[:, None], delta[:, None], valid, tl.dot(do, vt))
                ds_acc += tau * ds
                tl.store(part + h, tl.sum(tl.sum(ds * s, 1), 0))
        else:
            ds_acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
            for h in range(0, H):
                tl.store(part + h, 0.0)
        store_tile(S + b * ss[0], ds_acc, offs_m, offs_n, ss[1], ss[2], Lq, Lk)


def _similarity(x_query, x_key):
    return torch.matmul(x_query, x_key.transpose(-1, -2))


def _common(q, k, v, tau, key_padding_mask, window):
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    tau_h = tau.to(torch.float32).expand(H).contiguous() if tau.numel() == 1 else tau.to(torch.float32).contiguous()
    kpm = key_padding_int8(key_padding_mask, q)
    return B, H, KVH, Lq, Lk, D, tau_h, kpm


def _triton_forward(q, k, v, xq, xk, tau, kpm_bool, scaling, is_causal, window):
    B, H, KVH, Lq, Lk, D, tau_h, kpm = _common(q, k, v, tau, kpm_bool, window)
    s = _similarity(xq, xk).contiguous()
    out = torch.empty_like(q)
    lse = torch.empty(B, H, Lq, dtype=torch.float32, device=q.device)
    meta, launch = blocks(D, "fwd")
    grid = (triton.cdiv(Lq, meta["BLOCK_M"]), B * H)
    _fwd_kernel[grid](
        q, k, v, s, tau_h, kpm, out, lse, q.stride(), k.stride(), v.stride(), s.stride(), out.stride(),
        H, H // KVH, Lq, Lk, D, Lk - Lq, max(window, 1), scaling * LOG2E,
        **mask_flags(is_causal, window, kpm_bool), **meta, **launch,
    )  # fmt: skip
    return out, lse


def _triton_backward(do, q, k, v, xq, xk, tau, kpm_bool, out, lse, scaling, is_causal, window):
    B, H, KVH, Lq, Lk, D, tau_h, kpm = _common(q, k, v, tau, kpm_bool, window)
    q = q.contiguous()
    do = do.contiguous()
    k = k.contiguous()
    v = v.contiguous()
    delta = output_grad_rowsum(do, out)
    s = _similarity(xq, xk).contiguous()
    dq = torch.empty_like(q)
    dk = torch.empty_like(k)
    dv = torch.empty_like(v)
    flags = mask_flags(is_causal, window, kpm_bool)
    strides = (q.stride(), k.stride(), v.stride(), s.stride())
    w = max(window, 1)
    meta, launch = blocks(D, "dkdv")
    _bwd_dkdv_kernel[(triton.cdiv(Lk, meta["BLOCK_N"]), B * KVH)](
        q, k, v, s, tau_h, kpm, do, lse, delta, dk, dv, *strides, dk.stride(),
        H, KVH, H // KVH, Lq, Lk, D, Lk - Lq, w, scaling * LOG2E, scaling, **flags, **meta, **launch,
    )  # fmt: skip
    meta, launch = blocks(D, "dq")
    _bwd_dq_kernel[(triton.cdiv(Lq, meta["BLOCK_M"]), B * H)](
        q, k, v, s, tau_h, kpm, do, lse, delta, dq, *strides, dq.stride(),
        H, H // KVH, Lq, Lk, D, Lk - Lq, w, scaling * LOG2E, scaling, **flags, **meta, **launch,
    )  # fmt: skip
    meta, launch = blocks(D, "ds")
    n_m, n_n = triton.cdiv(Lq, meta["BLOCK_M"]), triton.cdiv(Lk, meta["BLOCK_N"])
    part = torch.empty(B, n_m, n_n, H, dtype=torch.float32, device=q.device)
    _bwd_ds_kernel[(n_m, n_n, B)](
        q, k, v, s, tau_h, kpm, do, lse, delta, part, *strides,
        H, H // KVH, Lq, Lk, D, Lk - Lq, w, scaling * LOG2E, **flags, **meta, **launch,
    )  # fmt: skip
    ds = s  # overwritten in place by the dS kernel
    dxq = torch.matmul(ds, xk)
    dxk = torch.matmul(ds.transpose(-1, -2), xq)
    dtau = part.sum((0, 1, 2))
    if tau.numel() == 1:
        dtau = dtau.sum().reshape(tau.shape)
    return dq, dk, dv, dxq, dxk, dtau.to(tau.dtype)


def _dense(q, k, v, xq, xk, tau, kpm_bool, scaling, is_causal, window):
    """Dense PyTorch path (fp32 on CUDA, CPU without the interpreter): same semantics, O(H·L²) memory."""
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    ct = torch.promote_types(q.dtype, torch.float32)
    kk = k.to(ct).repeat_interleave(H // KVH, 1)
    vv = v.to(ct).repeat_interleave(H // KVH, 1)
    logits = torch.matmul(q.to(ct), kk.transpose(-1, -2)) * scaling
    logits = logits + tau.to(ct).view(1, -1, 1, 1) * _similarity(xq.to(ct), xk.to(ct)).unsqueeze(1)
    valid = valid_dense(B, Lq, Lk, kpm_bool, is_causal, window, q.device)
    logits = logits.masked_fill(~valid, -1e30)  # finite: no NaN in the gradient of a fully masked row
    lse = torch.logsumexp(logits, -1)
    row_ok = valid.any(-1).expand_as(lse)
    p = torch.exp(logits - lse.unsqueeze(-1)) * valid
    out = torch.matmul(p, vv)
    return out, torch.where(row_ok, lse * LOG2E, float("inf"))


@torch.library.custom_op("hf_archs::semantic_attention_fwd", mutates_args=())
def _fwd_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    xq: torch.Tensor,
    xk: torch.Tensor,
    tau: torch.Tensor,
    kpm: torch.Tensor | None,
    scaling: float,
    is_causal: bool,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    if kernel_runs_on(q):
        return _triton_forward(q, k, v, xq, xk, tau, kpm, scaling, is_causal, window)
    out, lse = _dense(q, k, v, xq, xk, tau, kpm, scaling, is_causal, window)
    return out.to(q.dtype), lse.to(torch.float32)


@_fwd_op.register_fake
def _(q, k, v, xq, xk, tau, kpm, scaling, is_causal, window):
    B, H, Lq, _ = q.shape
    return torch.empty_like(q), q.new_empty(B, H, Lq, dtype=torch.float32)


@torch.library.custom_op("hf_archs::semantic_attention_bwd", mutates_args=())
def _bwd_op(
    do: torch.Tensor,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    xq: torch.Tensor,
    xk: torch.Tensor,
    tau: torch.Tensor,
    kpm: torch.Tensor | None,
    out: torch.Tensor,
    lse: torch.Tensor,
    scaling: float,
    is_causal: bool,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if kernel_runs_on(q):
        return _triton_backward(do, q, k, v, xq, xk, tau, kpm, out, lse, scaling, is_causal, window)
    return _dense_backward(do, q, k, v, xq, xk, tau, kpm, scaling, is_causal, window)


def _dense_backward(do, q, k, v, xq, xk, tau, kpm_bool, scaling, is_causal, window):
    """Explicit dense gradients (autograd is off below the custom op's autograd key)."""
    B, H, Lq, D = q.shape
    KVH, Lk = k.shape[1], k.shape[2]
    G = H // KVH
    ct = torch.promote_types(q.dtype, torch.float32)
    qq, dd = q.to(ct), do.to(ct)
    kk = k.to(ct).repeat_interleave(G, 1)
    vv = v.to(ct).repeat_interleave(G, 1)
    sim = _similarity(xq.to(ct), xk.to(ct))
    logits = torch.matmul(qq, kk.transpose(-1, -2)) * scaling + tau.to(ct).view(1, -1, 1, 1) * sim.unsqueeze(1)
    valid = valid_dense(B, Lq, Lk, kpm_bool, is_causal, window, q.device)
    logits = logits.masked_fill(~valid, -1e30)
    p = torch.exp(logits - torch.logsumexp(logits, -1, keepdim=True)) * valid
    out = torch.matmul(p, vv)
    dl = p * (torch.matmul(dd, vv.transpose(-1, -2)) - (dd * out).sum(-1, keepdim=True))
    dq = torch.matmul(dl, kk) * scaling
    dk = (torch.matmul(dl.transpose(-1, -2), qq) * scaling).view(B, KVH, G, Lk, D).sum(2)
    dv = torch.matmul(p.transpose(-1, -2), dd).view(B, KVH, G, Lk, D).sum(2)
    ds = (tau.to(ct).view(1, -1, 1, 1) * dl).sum(1)
    dxq = torch.matmul(ds, xk.to(ct))
    dxk = torch.matmul(ds.transpose(-1, -2), xq.to(ct))
    dtau = (dl * sim.unsqueeze(1)).sum((0, 2, 3))
    if tau.numel() == 1:
        dtau = dtau.sum().reshape(tau.shape)
    return tuple(g.to(t.dtype).contiguous() for g, t in zip((dq, dk, dv, dxq, dxk, dtau), (q, k, v, xq, xk, tau)))


@_bwd_op.register_fake
def _(do, q, k, v, xq, xk, tau, kpm, out, lse, scaling, is_causal, window):
    return tuple(torch.empty_like(t) for t in (q, k, v, xq, xk, tau))


def _setup_context(ctx, inputs, output):
    q, k, v, xq, xk, tau, kpm, scaling, is_causal, window = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, xq, xk, tau, out, lse)
    ctx.kpm = kpm
    ctx.args = (scaling, is_causal, window)


def _backward(ctx, dout, dlse):
    q, k, v, xq, xk, tau, out, lse = ctx.saved_tensors
    grads = _bwd_op(dout, q, k, v, xq, xk, tau, ctx.kpm, out, lse, *ctx.args)
    return (*grads, None, None, None, None)


_fwd_op.register_autograd(_backward, setup_context=_setup_context)


def semantic_attention_fused(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    x_query: torch.Tensor,
    x_key: torch.Tensor,
    tau: torch.Tensor,
    *,
    scaling: float,
    is_causal: bool,
    key_padding_mask: torch.Tensor | None = None,
    sliding_window: int | None = None,
) -> torch.Tensor:
    """Semantic attention, (B, H, Lq, D) out. key/value (B, KVH, Lk, D); queries are the last Lq of Lk positions.

    key_padding_mask: (B, Lk) bool, True = may attend. sliding_window w: query i sees key j iff i − j < w.
    """
    if query.shape[1] % key.shape[1]:
        raise ValueError(f"{query.shape[1]} query heads are not a multiple of {key.shape[1]} KV heads")
    if tau.numel() not in (1, query.shape[1]):
        raise ValueError(f"tau has {tau.numel()} entries for {query.shape[1]} heads")
    if key_padding_mask is not None:
        key_padding_mask = key_padding_mask.to(torch.bool)
    window = int(sliding_window) if sliding_window else 0
    out, _ = _fwd_op(query, key, value, x_query, x_key, tau, key_padding_mask, float(scaling), bool(is_causal), window)
    return out


__all__ = ["TRITON_AVAILABLE", "kernel_runs_on", "semantic_attention_fused"]
