"""Conversion of a stock BERT-family checkpoint: fit the position MLP to the stock learned table.

Conversion code: it never travels with checkpoints (the design names it by a dotted path in its `ConversionPlan`).
"""

from pathlib import Path

import torch
from safetensors import safe_open

from .design import ContinuousPositionEncoding


TABLE_SUFFIX = "embeddings.position_embeddings.weight"


def read_source_weight(source_dir: Path, suffix: str) -> torch.Tensor:
    """The source checkpoint's tensor whose name ends with `suffix` (safetensors, else PyTorch .bin files)."""
    source_dir = Path(source_dir)
    for path in sorted(source_dir.glob("*.safetensors")):
        with safe_open(path, framework="pt") as weights:
            for name in weights.keys():
                if name == suffix or name.endswith("." + suffix):
                    return weights.get_tensor(name)
    for path in sorted(source_dir.glob("*.bin")):
        state = torch.load(path, map_location="cpu", weights_only=True)
        for name, tensor in state.items():
            if name == suffix or name.endswith("." + suffix):
                return tensor
    raise FileNotFoundError(f"No weight named *{suffix} in {source_dir}.")


RIDGES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def fit_mlp(encoding: ContinuousPositionEncoding, table: torch.Tensor, max_cancellation: float = 10.0) -> dict:
    """Fit W2, b2 of encoding's MLP to `table` (P, d) at the raw positions 0..P-1, in place (W1, b1 keep their
    initialization: GELU units with kinks spread over the trained range).

    Ridge least squares in float64 on the centred hidden units, with the smallest ridge weight of `RIDGES` (relative
    to the mean squared hidden unit) for which the MLP sums terms of at most `max_cancellation` × max|table|: the
    GELU ramps are nearly collinear, and an unregularized fit of a noisy table cancels terms 10^3-10^7 times larger
    than its result, which float32 (let alone bfloat16, or another kernel's rounding) cannot reproduce. Gradient
    steps after the solve were tried and did not lower the error (the problem is ill-conditioned for Adam).

    Returns the fit: RMS and max |Δ| over the table (float32 evaluation), the table's RMS, the ridge weight and
    the cancellation ratio reached.
    """
    target = table.detach().to(torch.float64)
    positions = torch.arange(len(table), dtype=torch.float64)
    # Normalized coordinates have no fixed position; the table is fitted as one full-length row (k / (P - 1)).
    u = positions / (len(table) - 1) if encoding.normalize else positions / encoding.scale
    with torch.no_grad():
        hidden = torch.nn.functional.gelu(u[:, None] * encoding.w1.double() + encoding.b1.double())
        hidden = hidden * encoding.hidden_scale  # (P, E), the units `encode` feeds to W2
        centred, target_centred = hidden - hidden.mean(0), target - target.mean(0)
        gram = centred.T @ centred
        scale = gram.diagonal().mean()
        for ridge in RIDGES:
            weight = torch.linalg.solve(
                gram + ridge * scale * torch.eye(len(gram), dtype=gram.dtype), centred.T @ target_centred
            )
            bias = target.mean(0) - hidden.mean(0) @ weight
            cancellation = ((hidden.abs() @ weight.abs() + bias.abs()).max() / target.abs().max()).item()
            if cancellation <= max_cancellation:
                break
        encoding.w2.copy_(weight.T.to(encoding.w2.dtype))
        encoding.b2.copy_(bias.to(encoding.b2.dtype))
        error = encoding.encode(u.to(torch.float32)) - target.to(torch.float32)
    return {
        "positions": len(table),
        "table_rms": target.pow(2).mean().sqrt().item(),
        "fit_rms": error.pow(2).mean().sqrt().item(),
        "fit_max_abs": error.abs().max().item(),
        "ridge": ridge,
        "cancellation": cancellation,
    }


def set_residual_table(encoding: ContinuousPositionEncoding, table: torch.Tensor) -> None:
    """R = stock table - MLP at the integer positions: the exact variant's frozen table."""
    with torch.no_grad():
        encoding.residual.zero_()
        positions = torch.arange(len(table), dtype=torch.float32)[None]
        encoding.residual.copy_(table.to(encoding.residual.dtype) - encoding(positions)[0])


def fit_position_table(model, source_dir, report) -> None:
    """`ConversionPlan.initialize` of the design: fit the MLP (and set the residual table of the exact variant)."""
    table = read_source_weight(source_dir, TABLE_SUFFIX)
    (encoding,) = [m for m in model.modules() if isinstance(m, ContinuousPositionEncoding)]
    fit = fit_mlp(encoding, table)
    if encoding.residual is not None:
        set_residual_table(encoding, table)
    report.initialization["position_fit"] = fit
