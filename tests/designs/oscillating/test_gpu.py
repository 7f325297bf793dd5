"""Oscillating attention under Transformers' flex kernel on a CUDA device (FlexAttention has no backward on the CPU):
outputs and every gradient against the float64 SDPA path. Skipped on machines without CUDA."""

import pytest
import torch

from tests.designs.oscillating.test_attention import BACKBONES, oscillating_model


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# Rows longer than one 128-token block, so that block masks skip whole blocks (below the diagonal of a backward layer,
# outside Gemma 3's window, past the padding), and one shorter.
LENGTHS = (300, 200, 77)


def padded_batch(side: str, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, 128, (len(LENGTHS), max(LENGTHS)), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    for row, length in enumerate(LENGTHS):
        attention_mask[row, :length] = 1
    if side == "left":
        attention_mask = attention_mask.flip(-1)
    return input_ids.cuda(), attention_mask.cuda()


def outputs_and_gradients(model, input_ids, attention_mask, weights):
    """The last hidden state and every parameter's gradient of Σ weights · output over the real tokens."""
    model.zero_grad(set_to_none=True)
    output = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    valid = attention_mask.bool()
    (output[valid].double() * weights[valid]).sum().backward()
    gradients = {name: p.grad.double() for name, p in model.named_parameters() if p.grad is not None}
    return output[valid].double(), gradients


def relative_errors(model, reference, input_ids, attention_mask) -> dict[str, float]:
    """‖model − reference‖ / ‖reference‖ of the output at real tokens and of each parameter's gradient; the model's
    are finite."""
    generator = torch.Generator(device="cuda").manual_seed(1)
    weights = torch.randn(*input_ids.shape, reference.config.hidden_size, generator=generator, device="cuda").double()
    expected, expected_gradients = outputs_and_gradients(reference, input_ids, attention_mask, weights)
    actual, gradients = outputs_and_gradients(model, input_ids, attention_mask, weights)
    assert gradients.keys() == expected_gradients.keys() and gradients
    pairs = {"output": (actual, expected)} | {name: (gradients[name], expected_gradients[name]) for name in gradients}
    errors = {}
    for name, (got, want) in pairs.items():
        assert torch.isfinite(got).all(), name
        errors[name] = ((got - want).norm() / want.norm().clamp_min(1e-30)).item()
    return errors


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize(("dtype", "floor"), [(torch.float32, 1e-5), (torch.bfloat16, 1e-3)], ids=["fp32", "bf16"])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_flex_attention_matches_float64_sdpa_outputs_and_gradients(backbone, dtype, floor, side):
    """Output and every gradient of the flex path against the float64 SDPA path: no further from it than twice the
    SDPA path's own error in the same dtype (rounding through six layers), plus a floor."""
    # Head dim 16: Triton's flex kernels need at least 16.
    reference = oscillating_model(backbone, torch.float64, "sdpa", hidden_size=64).cuda().train()
    input_ids, attention_mask = padded_batch(side)
    errors = {}
    for implementation in ("sdpa", "flex_attention"):
        model = oscillating_model(backbone, dtype, implementation, hidden_size=64).cuda().train()
        model.load_state_dict(reference.state_dict())
        errors[implementation] = relative_errors(model, reference, input_ids, attention_mask)
    for name, flex_error in errors["flex_attention"].items():
        bound = 2 * errors["sdpa"][name] + floor
        print(f"{name}: flex {flex_error:.2e}, sdpa {errors['sdpa'][name]:.2e}")
        assert flex_error <= bound, f"{backbone} {side} {dtype}: {name} relative error {flex_error:.3g} > {bound:.3g}"
