"""Export conformance: `torch.export` of a model's forward gives a program that computes the eager forward.

Exported as Transformers' own export tests do (`torch.export.export(model, args=(), kwargs=..., strict=False)`), then
run on fresh inputs of the same shapes (other tokens, other padding), never on the example it was traced with: a
program that baked in a value of the example differs there. Only torch and transformers are imported here.
"""

import torch


ATOL = 1e-5


def main_outputs(outputs) -> dict:
    """The output fields a caller reads: every tensor of the output (logits or hidden states, side outputs)."""
    return {name: value for name, value in outputs.items() if isinstance(value, torch.Tensor)}


def check_export(model, example: dict, fresh: dict, atol: float = ATOL) -> torch.export.ExportedProgram:
    """Export `model` (eval mode) traced on `example` keywords; its program on `fresh` keywords equals the eager
    forward on them, field by field. Returns the program."""
    with torch.no_grad():
        program = torch.export.export(model, args=(), kwargs=example, strict=False)
        exported = main_outputs(program.module()(**fresh))
        eager = main_outputs(model(**fresh))
    assert exported.keys() == eager.keys(), f"exported fields {sorted(exported)} vs eager {sorted(eager)}"
    for name, want in eager.items():
        torch.testing.assert_close(exported[name], want, atol=atol, rtol=atol, msg=lambda m: f"{name}: {m}")
    return program
