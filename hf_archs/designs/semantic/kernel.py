"""Fused semantic attention in Triton: no (batch, heads, L, L) tensor.

    logits_h(i, j) = scaling · q_h(i)·k_h(j) + tau_h · S(i, j) + mask(i, j),   S = x̂_q x̂_kᵀ (one per batch row)

Route. S costs as many FLOPs as QKᵀ over all heads (d = Σ_h head_dim), so it is computed once per layer and shared
by the heads rather than per head (H times the work):
- forward: S = x̂_q x̂_kᵀ by one matmul into a (batch, Lq, Lk) buffer; a flash-attention kernel per (query block,
  head) adds tau_h · S tile by tile with an online softmax and keeps the log-sum-exp;
- backward: (1) flash-style kernels for dk, dv (per key block) and dq (per query block), recomputing P from q, k,
  S and the log-sum-exp; (2) a dS kernel per (query block, key block) tile that loops over the heads inside the
  program and sums dS = Σ_h tau_h · dlogits_h in registers (no atomics over heads; FlexAttention's per-head atomics
  are what make it hundreds of times slower), with per-tile partial sums of dtau_h = Σ dlogits_h ⊙ S;
  (3) dx̂_q = dS x̂_k and dx̂_k = dSᵀ x̂_q as dense matmuls.
FLOPs, in units of one all-heads QKᵀ: forward 3 (flash: 2), backward 2 (dS kernel) + 5 (flash-style) + 2 (dx̂)
= 9 (flash: 5), so fwd+bwd ≈ 12/7 ≈ 1.7× flash at equal efficiency. Memory: flash's plus the S buffer (input
dtype) and, during the backward, the dS buffer (float32). Causal layers skip the tiles above the diagonal in every
kernel (not yet in the S and dx̂ matmuls, which are dense).

Masks: causal (queries are the last Lq of the Lk positions: prefill after a cache), a sliding window
(i − j < window), and padding of keys; a query that may see no key outputs 0 and passes no gradient (the
reference averages every value for such a row; it is padding either way). Grouped-query attention reads each KV
head once per query head without repeating it in memory.

`semantic_attention_fused` is a torch custom op (`hf_archs::semantic_attention`), so `torch.compile` keeps it in
one graph. It runs the Triton kernels for CUDA tensors in bf16/fp16 and, under `TRITON_INTERPRET=1`, for CPU tensors
(how CI checks the kernels against the float64 reference); `TRITON_AVAILABLE` is False where Triton is missing.
"""

import os

import torch


try:  # Triton is optional: this module (and the checkpoints that carry it) must import without it.
    import triton
    import triton.language as tl

    TRITON_AVAILABLE = True
except ImportError:
    triton = tl = None
    TRITON_AVAILABLE = False

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def _blocks(head_dim: int, device: torch.device) -> tuple[int, int]:
    if device.type != "cuda":
        return 16, 16  # the interpreter: small tiles keep CPU tests fast
    return (64, 64) if head_dim <= 128 else (32, 32)


def _warps(head_dim: int) -> int:
    return 4 if head_dim <= 64 else 8


if TRITON_AVAILABLE:

    @triton.jit
    def _allowed(q_pos, k_pos, offset, key_length, pad_row, HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr, window):
        """(BM, BN) boolean: may query q_pos (0-based among the Lq queries) attend to key k_pos."""
        allowed = (q_pos[:, None] >= 0) & (k_pos[None, :] < key_length)  # (BM, BN) from the start: branches keep it
        if HAS_PAD:
            keep = tl.load(pad_row + k_pos, mask=k_pos < key_length, other=0)
            allowed = allowed & (keep[None, :] != 0)
        if IS_CAUSAL:
            allowed = allowed & (k_pos[None, :] <= q_pos[:, None] + offset)
        if window > 0:
            allowed = allowed & (q_pos[:, None] + offset - k_pos[None, :] < window)
        return allowed

    @triton.jit
    def _forward_kernel(
        Q, K, V, S, TAU, PAD, OUT, LSE,
        sq_b, sq_h, sq_l, sk_b, sk_h, sk_l, ss_b, ss_l, so_b, so_h, so_l, sp_b,
        heads, group, query_length, key_length, scaling, window,
        HEAD_DIM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
        HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    ):  # fmt: skip
        block_m, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // heads, bh % heads
        kv = h // group
        offset = key_length - query_length
        q_pos = block_m * BM + tl.arange(0, BM)
        dims = tl.arange(0, HEAD_DIM)
        q = tl.load(
            Q + b * sq_b + h * sq_h + q_pos[:, None] * sq_l + dims[None, :],
            mask=q_pos[:, None] < query_length,
            other=0.0,
        )
        tau = tl.load(TAU + h).to(tl.float32)
        m_i = tl.full((BM,), float("-inf"), tl.float32)
        l_i = tl.zeros((BM,), tl.float32)
        acc = tl.zeros((BM, HEAD_DIM), tl.float32)
        lo, hi = 0, key_length
        if IS_CAUSAL:
            hi = tl.minimum(key_length, offset + (block_m + 1) * BM)
        if window > 0:
            lo = tl.maximum(0, offset + block_m * BM - window + 1) // BN * BN
        for start in range(lo, hi, BN):
            k_pos = start + tl.arange(0, BN)
            in_k = k_pos[:, None] < key_length
            k = tl.load(K + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
            v = tl.load(V + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
            s = tl.load(
                S + b * ss_b + q_pos[:, None] * ss_l + k_pos[None, :],
                mask=(q_pos[:, None] < query_length) & (k_pos[None, :] < key_length),
                other=0.0,
            )
            logits = tl.dot(q, tl.trans(k)).to(tl.float32) * scaling + tau * s.to(tl.float32)
            allowed = _allowed(q_pos, k_pos, offset, key_length, PAD + b * sp_b, HAS_PAD, IS_CAUSAL, window)
            logits = tl.where(allowed, logits, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(logits, 1))
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
            p = tl.exp(logits - m_safe[:, None])
            alpha = tl.exp(m_i - m_safe)
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v).to(tl.float32)
            m_i = m_new
        seen = l_i > 0
        out = acc / tl.where(seen, l_i, 1.0)[:, None]
        tl.store(
            OUT + b * so_b + h * so_h + q_pos[:, None] * so_l + dims[None, :],
            out.to(OUT.dtype.element_ty),
            mask=q_pos[:, None] < query_length,
        )
        # A row that sees no key keeps lse = +inf, so that P = exp(logits - lse) = 0 in the backward.
        lse = tl.where(seen, m_i + tl.log(tl.where(seen, l_i, 1.0)), float("inf"))
        tl.store(LSE + bh * query_length + q_pos, lse, mask=q_pos < query_length)

    @triton.jit
    def _probabilities(
        q, k, s, tau, lse_row, q_pos, k_pos, offset, key_length, pad_row, scaling, window,
        HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    ):  # fmt: skip
        logits = tl.dot(q, tl.trans(k)).to(tl.float32) * scaling + tau * s.to(tl.float32)
        allowed = _allowed(q_pos, k_pos, offset, key_length, pad_row, HAS_PAD, IS_CAUSAL, window)
        return tl.where(allowed, tl.exp(logits - lse_row[:, None]), 0.0)

    @triton.jit
    def _backward_dkdv_kernel(
        Q, K, V, S, TAU, PAD, DO, LSE, DELTA, DK, DV,
        sq_b, sq_h, sq_l, sk_b, sk_h, sk_l, ss_b, ss_l, sp_b, sd_b, sd_h, sd_l,
        heads, group, query_length, key_length, scaling, window,
        HEAD_DIM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
        HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    ):  # fmt: skip
        """dk, dv of one key block for one query head (summed over the heads of a KV group afterwards)."""
        block_n, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // heads, bh % heads
        kv = h // group
        offset = key_length - query_length
        k_pos = block_n * BN + tl.arange(0, BN)
        dims = tl.arange(0, HEAD_DIM)
        in_k = k_pos[:, None] < key_length
        k = tl.load(K + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
        v = tl.load(V + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
        tau = tl.load(TAU + h).to(tl.float32)
        dk = tl.zeros((BN, HEAD_DIM), tl.float32)
        dv = tl.zeros((BN, HEAD_DIM), tl.float32)
        lo, hi = 0, query_length
        if IS_CAUSAL:
            lo = tl.maximum(0, block_n * BN - offset) // BM * BM
        if window > 0:
            hi = tl.minimum(query_length, (block_n + 1) * BN + window - offset)
        for start in range(lo, hi, BM):
            q_pos = start + tl.arange(0, BM)
            in_q = q_pos < query_length
            q = tl.load(Q + b * sq_b + h * sq_h + q_pos[:, None] * sq_l + dims[None, :], mask=in_q[:, None], other=0.0)
            do = tl.load(
                DO + b * sd_b + h * sd_h + q_pos[:, None] * sd_l + dims[None, :], mask=in_q[:, None], other=0.0
            )
            s = tl.load(
                S + b * ss_b + q_pos[:, None] * ss_l + k_pos[None, :],
                mask=in_q[:, None] & (k_pos[None, :] < key_length),
                other=0.0,
            )
            lse = tl.load(LSE + bh * query_length + q_pos, mask=in_q, other=float("inf"))
            delta = tl.load(DELTA + bh * query_length + q_pos, mask=in_q, other=0.0)
            p = _probabilities(
                q,
                k,
                s,
                tau,
                lse,
                q_pos,
                k_pos,
                offset,
                key_length,
                PAD + b * sp_b,
                scaling,
                window,
                HAS_PAD,
                IS_CAUSAL,
            )
            dv += tl.dot(tl.trans(p.to(do.dtype)), do).to(tl.float32)
            dp = tl.dot(do, tl.trans(v)).to(tl.float32)
            dlogits = p * (dp - delta[:, None])
            dk += tl.dot(tl.trans(dlogits.to(q.dtype)), q).to(tl.float32) * scaling
        out = bh * key_length * HEAD_DIM + k_pos[:, None] * HEAD_DIM + dims[None, :]
        tl.store(DK + out, dk, mask=in_k)
        tl.store(DV + out, dv, mask=in_k)

    @triton.jit
    def _backward_dq_kernel(
        Q, K, V, S, TAU, PAD, DO, LSE, DELTA, DQ,
        sq_b, sq_h, sq_l, sk_b, sk_h, sk_l, ss_b, ss_l, sp_b, sd_b, sd_h, sd_l,
        heads, group, query_length, key_length, scaling, window,
        HEAD_DIM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
        HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    ):  # fmt: skip
        block_m, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // heads, bh % heads
        kv = h // group
        offset = key_length - query_length
        q_pos = block_m * BM + tl.arange(0, BM)
        dims = tl.arange(0, HEAD_DIM)
        in_q = q_pos < query_length
        q = tl.load(Q + b * sq_b + h * sq_h + q_pos[:, None] * sq_l + dims[None, :], mask=in_q[:, None], other=0.0)
        do = tl.load(DO + b * sd_b + h * sd_h + q_pos[:, None] * sd_l + dims[None, :], mask=in_q[:, None], other=0.0)
        lse = tl.load(LSE + bh * query_length + q_pos, mask=in_q, other=float("inf"))
        delta = tl.load(DELTA + bh * query_length + q_pos, mask=in_q, other=0.0)
        tau = tl.load(TAU + h).to(tl.float32)
        dq = tl.zeros((BM, HEAD_DIM), tl.float32)
        lo, hi = 0, key_length
        if IS_CAUSAL:
            hi = tl.minimum(key_length, offset + (block_m + 1) * BM)
        if window > 0:
            lo = tl.maximum(0, offset + block_m * BM - window + 1) // BN * BN
        for start in range(lo, hi, BN):
            k_pos = start + tl.arange(0, BN)
            in_k = k_pos[:, None] < key_length
            k = tl.load(K + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
            v = tl.load(V + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k, other=0.0)
            s = tl.load(
                S + b * ss_b + q_pos[:, None] * ss_l + k_pos[None, :],
                mask=in_q[:, None] & (k_pos[None, :] < key_length),
                other=0.0,
            )
            p = _probabilities(
                q,
                k,
                s,
                tau,
                lse,
                q_pos,
                k_pos,
                offset,
                key_length,
                PAD + b * sp_b,
                scaling,
                window,
                HAS_PAD,
                IS_CAUSAL,
            )
            dp = tl.dot(do, tl.trans(v)).to(tl.float32)
            dlogits = p * (dp - delta[:, None])
            dq += tl.dot(dlogits.to(k.dtype), k).to(tl.float32) * scaling
        tl.store(DQ + bh * query_length * HEAD_DIM + q_pos[:, None] * HEAD_DIM + dims[None, :], dq, mask=in_q[:, None])

    @triton.jit
    def _backward_ds_kernel(
        Q, K, V, S, TAU, PAD, DO, LSE, DELTA, DS, DTAU,
        sq_b, sq_h, sq_l, sk_b, sk_h, sk_l, ss_b, ss_l, sp_b, sd_b, sd_h, sd_l,
        heads, group, query_length, key_length, scaling, window,
        HEAD_DIM: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
        HAS_PAD: tl.constexpr, IS_CAUSAL: tl.constexpr,
    ):  # fmt: skip
        """dS = Σ_h tau_h · dlogits_h for one (query block, key block) tile, the heads looped inside the program."""
        block_m, block_n, b = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        offset = key_length - query_length
        q_pos = block_m * BM + tl.arange(0, BM)
        k_pos = block_n * BN + tl.arange(0, BN)
        dims = tl.arange(0, HEAD_DIM)
        in_q = q_pos < query_length
        in_k = k_pos < key_length
        skip = block_m < 0  # a scalar False of Triton's boolean type, so both branches below agree on its type
        if IS_CAUSAL:
            skip = block_n * BN > offset + (block_m + 1) * BM - 1
        if window > 0:
            skip = skip | (offset + block_m * BM - ((block_n + 1) * BN - 1) >= window)
        if not skip:
            s = tl.load(
                S + b * ss_b + q_pos[:, None] * ss_l + k_pos[None, :], mask=in_q[:, None] & in_k[None, :], other=0.0
            )
            s = s.to(tl.float32)
            ds = tl.zeros((BM, BN), tl.float32)
            for h in range(0, heads):
                bh = b * heads + h
                kv = h // group
                q = tl.load(
                    Q + b * sq_b + h * sq_h + q_pos[:, None] * sq_l + dims[None, :], mask=in_q[:, None], other=0.0
                )
                do = tl.load(
                    DO + b * sd_b + h * sd_h + q_pos[:, None] * sd_l + dims[None, :], mask=in_q[:, None], other=0.0
                )
                k = tl.load(
                    K + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k[:, None], other=0.0
                )
                v = tl.load(
                    V + b * sk_b + kv * sk_h + k_pos[:, None] * sk_l + dims[None, :], mask=in_k[:, None], other=0.0
                )
                lse = tl.load(LSE + bh * query_length + q_pos, mask=in_q, other=float("inf"))
                delta = tl.load(DELTA + bh * query_length + q_pos, mask=in_q, other=0.0)
                tau = tl.load(TAU + h).to(tl.float32)
                p = _probabilities(
                    q, k, s, tau, lse, q_pos, k_pos, offset, key_length, PAD + b * sp_b, scaling, window,
                    HAS_PAD, IS_CAUSAL,
                )  # fmt: skip
                dlogits = p * (tl.dot(do, tl.trans(v)).to(tl.float32) - delta[:, None])
                ds += tau * dlogits
                tl.atomic_add(DTAU + h, tl.sum(dlogits * s))
            tl.store(
                DS + b * query_length * key_length + q_pos[:, None] * key_length + k_pos[None, :],
                ds,
                mask=in_q[:, None] & in_k[None, :],
            )


def _launch_arguments(query, key, scores, pad, grad_output=None):
    strides = [*query.stride()[:3], *key.stride()[:3], *scores.stride()[:2]]
    if grad_output is not None:
        strides = strides[:8] + [pad.stride(0)] + list(grad_output.stride()[:3])
    return strides


def _check_inputs(query, key, value, x_query, x_key, tau):
    batch, heads, query_length, head_dim = query.shape
    if key.shape != value.shape or key.shape[0] != batch or key.shape[3] != head_dim or heads % key.shape[1]:
        raise ValueError(f"key/value {tuple(key.shape)} do not fit query {tuple(query.shape)} (grouped heads).")
    if x_query.shape[:2] != (batch, query_length) or x_key.shape[:2] != (batch, key.shape[2]):
        raise ValueError("x_query must be (batch, Lq, d) and x_key (batch, Lk, d).")
    if tau.numel() not in (1, heads):
        raise ValueError(f"tau must have 1 or {heads} values, got {tau.numel()}.")
    if head_dim & (head_dim - 1) or not 16 <= head_dim <= 256:
        raise ValueError(f"The fused kernel takes head_dim a power of two in [16, 256], got {head_dim}.")


def _forward(query, key, value, x_query, x_key, tau, scaling, is_causal, key_padding_mask, sliding_window):
    batch, heads, query_length, head_dim = query.shape
    key_length = key.shape[2]
    scores = torch.matmul(x_query, x_key.transpose(-1, -2)).to(query.dtype).contiguous()
    taus = tau.float().expand(heads).contiguous()
    pad = (key_padding_mask if key_padding_mask is not None else torch.ones(1, 1, device=query.device)).to(torch.int8)
    out = torch.empty_like(query)
    lse = torch.empty(batch, heads, query_length, device=query.device, dtype=torch.float32)
    block_m, block_n = _blocks(head_dim, query.device)
    grid = (triton.cdiv(query_length, block_m), batch * heads)
    _forward_kernel[grid](
        query, key, value, scores, taus, pad, out, lse,
        *_launch_arguments(query, key, scores, pad), *out.stride()[:3], pad.stride(0),
        heads, heads // key.shape[1], query_length, key_length, scaling, sliding_window or 0,
        HEAD_DIM=head_dim, BM=block_m, BN=block_n, HAS_PAD=key_padding_mask is not None, IS_CAUSAL=is_causal,
        num_warps=_warps(head_dim),
    )  # fmt: skip
    return out, lse, scores


def _backward(grad_output, query, key, value, x_query, x_key, tau, out, lse, scores, **options):
    scaling, is_causal = options["scaling"], options["is_causal"]
    key_padding_mask, sliding_window = options["key_padding_mask"], options["sliding_window"]
    batch, heads, query_length, head_dim = query.shape
    kv_heads, key_length = key.shape[1], key.shape[2]
    grad_output = grad_output.contiguous()
    delta = (grad_output.float() * out.float()).sum(-1).contiguous()  # (batch, heads, Lq)
    taus = tau.float().expand(heads).contiguous()
    pad = (key_padding_mask if key_padding_mask is not None else torch.ones(1, 1, device=query.device)).to(torch.int8)
    block_m, block_n = _blocks(head_dim, query.device)
    common = (
        *_launch_arguments(query, key, scores, pad, grad_output),
        heads, heads // kv_heads, query_length, key_length, scaling, sliding_window or 0,
    )  # fmt: skip
    flags = dict(HEAD_DIM=head_dim, BM=block_m, BN=block_n, HAS_PAD=key_padding_mask is not None, IS_CAUSAL=is_causal)
    flags["num_warps"] = _warps(head_dim)
    tensors = (query, key, value, scores, taus, pad, grad_output, lse, delta)

    dk = torch.empty(batch, heads, key_length, head_dim, device=query.device, dtype=torch.float32)
    dv = torch.empty_like(dk)
    _backward_dkdv_kernel[(triton.cdiv(key_length, block_n), batch * heads)](*tensors, dk, dv, *common, **flags)
    dq = torch.empty(batch, heads, query_length, head_dim, device=query.device, dtype=torch.float32)
    _backward_dq_kernel[(triton.cdiv(query_length, block_m), batch * heads)](*tensors, dq, *common, **flags)
    ds = torch.zeros(batch, query_length, key_length, device=query.device, dtype=torch.float32)
    dtau = torch.zeros(heads, device=query.device, dtype=torch.float32)
    grid = (triton.cdiv(query_length, block_m), triton.cdiv(key_length, block_n), batch)
    _backward_ds_kernel[grid](*tensors, ds, dtau, *common, **flags)

    group = heads // kv_heads
    dk = dk.view(batch, kv_heads, group, key_length, head_dim).sum(2)
    dv = dv.view(batch, kv_heads, group, key_length, head_dim).sum(2)
    # In the inputs' precision: on the GPU these are tensor-core products (float32 ones cost ~10× as much).
    ds = ds.to(x_query.dtype)
    dx_query = torch.matmul(ds, x_key)
    dx_key = torch.matmul(ds.transpose(-1, -2), x_query)
    dtau = dtau if tau.numel() == heads else dtau.sum().view(1)
    return (
        dq.to(query.dtype),
        dk.to(key.dtype),
        dv.to(value.dtype),
        dx_query.to(x_query.dtype),
        dx_key.to(x_key.dtype),
        dtau.to(tau.dtype).view(tau.shape),
    )


if TRITON_AVAILABLE:

    @torch.library.custom_op("hf_archs::semantic_attention", mutates_args=())
    def _semantic_attention_op(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        x_query: torch.Tensor,
        x_key: torch.Tensor,
        tau: torch.Tensor,
        scaling: float,
        is_causal: bool,
        key_padding_mask: torch.Tensor | None,
        sliding_window: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _forward(query, key, value, x_query, x_key, tau, scaling, is_causal, key_padding_mask, sliding_window)

    @_semantic_attention_op.register_fake
    def _(query, key, value, x_query, x_key, tau, scaling, is_causal, key_padding_mask, sliding_window):
        batch, heads, query_length, _ = query.shape
        lse = query.new_empty(batch, heads, query_length, dtype=torch.float32)
        return torch.empty_like(query), lse, query.new_empty(batch, query_length, key.shape[2])

    @torch.library.custom_op("hf_archs::semantic_attention_backward", mutates_args=())
    def _semantic_attention_backward_op(
        grad_output: torch.Tensor,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        x_query: torch.Tensor,
        x_key: torch.Tensor,
        tau: torch.Tensor,
        out: torch.Tensor,
        lse: torch.Tensor,
        scores: torch.Tensor,
        scaling: float,
        is_causal: bool,
        key_padding_mask: torch.Tensor | None,
        sliding_window: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return _backward(
            grad_output, query, key, value, x_query, x_key, tau, out, lse, scores,
            scaling=scaling, is_causal=is_causal, key_padding_mask=key_padding_mask, sliding_window=sliding_window,
        )  # fmt: skip

    @_semantic_attention_backward_op.register_fake
    def _(grad_output, query, key, value, x_query, x_key, tau, out, lse, scores, *args):
        return tuple(torch.empty_like(t) for t in (query, key, value, x_query, x_key, tau))

    def _setup_context(ctx, inputs, output):
        query, key, value, x_query, x_key, tau, scaling, is_causal, key_padding_mask, sliding_window = inputs
        out, lse, scores = output
        ctx.save_for_backward(query, key, value, x_query, x_key, tau, out, lse, scores, key_padding_mask)
        ctx.options = (scaling, is_causal, sliding_window)

    def _backward_rule(ctx, grad_output, _grad_lse, _grad_scores):
        query, key, value, x_query, x_key, tau, out, lse, scores, key_padding_mask = ctx.saved_tensors
        scaling, is_causal, sliding_window = ctx.options
        grads = _semantic_attention_backward_op(
            grad_output, query, key, value, x_query, x_key, tau, out, lse, scores,
            scaling, is_causal, key_padding_mask, sliding_window,
        )  # fmt: skip
        return (*grads, None, None, None, None)

    _semantic_attention_op.register_autograd(_backward_rule, setup_context=_setup_context)


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
    """Semantic attention with the Triton kernels; see the module docstring for the math, masks and cost.

    query (batch, heads, Lq, D); key, value (batch, kv_heads, Lk, D); x_query (batch, Lq, d), x_key (batch, Lk, d)
    unit-normalized; tau (heads,) or (1,); key_padding_mask (batch, Lk) bool, True = may attend. Returns
    (batch, heads, Lq, D). Differentiable in every tensor input.
    """
    _check_inputs(query, key, value, x_query, x_key, tau)
    if not TRITON_AVAILABLE:
        raise RuntimeError("The fused semantic-attention kernel needs Triton (pip install triton).")
    if not (query.is_cuda or INTERPRETED):
        raise RuntimeError("The fused kernel runs on CUDA tensors (or on CPU under TRITON_INTERPRET=1).")
    # The kernels index the head dimension with unit stride, and read K and V with the same strides.
    query = query if query.stride(-1) == 1 else query.contiguous()
    if key.stride() != value.stride() or key.stride(-1) != 1:
        key, value = key.contiguous(), value.contiguous()
    out, _, _ = _semantic_attention_op(
        query, key, value, x_query, x_key, tau, float(scaling), bool(is_causal), key_padding_mask, sliding_window
    )
    return out


__all__ = ["INTERPRETED", "TRITON_AVAILABLE", "semantic_attention_fused"]
