"""Side branches: modules that read chosen layers' hidden states, never change them, and add fields to the outputs.

A design with a side branch (`Design.side_branch`) gets one `SideBranch` module in its base model. Forward hooks on
the layers it reads hand it their output hidden states (the hooks return nothing, so the main path is bitwise the
stock one, whatever the branch's weights); after the stock forward the branch computes its fields, and the base
model's output (and its head's) becomes the subclass the branch declares for it, e.g. `CausalLMOutputWithPast` ->
a subclass with an `anomaly_scores` field. Tuple outputs (`return_dict=False`) are left as the stock model makes them.

The base model's own part runs inside its prepared `forward` (`core/inputs.py`: `begin_side_call` before the stock
forward, `end_side_call` after it), not in hooks on the base model, so a direct `model.forward(...)` call (which
skips module hooks) gets the branch's fields too. A branch that looks back over earlier positions can take its past
states as a keyword of the model call (`SideBranch.memory_keyword`): `begin_side_call` removes it from the stock
forward's arguments and hands it to the branch, so decoding with a KV cache can carry the branch's window along with
the cache.

The per-call scratch (`_SideScratch.calls`, `_side_sink`) lives only from the start of a call to its end: the layer
hooks cannot pass values to the branch any other way. No statistic is kept across calls. The layer hooks reach the
scratch through a `functools.partial` over the base model's `_SideScratch`, never a closure: `copy.deepcopy` copies
a partial's arguments with the rest of the model, so a copy's hooks fill the copy's scratch (a closure would keep
writing into the original's).
"""

import functools
from dataclasses import dataclass, field

import torch
from torch import nn

from .compat import cache_argument


class SideBranch(nn.Module):
    """A design's side branch. Subclasses set the class attributes and define `layer_indices`, `forward` and
    `init_design_weights`.

    attribute_name: the base model's attribute holding the branch (its weights are saved under that name).
    output_classes: stock output class -> its subclass carrying the branch's fields; other outputs are unchanged.
    output_fields: every field the branch adds.
    trainable_outputs: fields a loss can be put on (the contract suite backpropagates through them).
    memory_keyword: keyword of the model call carrying the branch's past states, or None. A call that continues a
        KV cache without it gets None for every field: the branch cannot see the positions before the call.
    """

    hf_archs_design_module = True
    attribute_name: str
    output_classes: dict[type, type] = {}
    output_fields: tuple[str, ...] = ()
    trainable_outputs: tuple[str, ...] = ()
    memory_keyword: str | None = None

    def layer_indices(self) -> list[int]:
        """The layers whose output hidden states the branch reads."""
        raise NotImplementedError

    def forward(
        self, hidden_states: dict[int, torch.Tensor], attention_mask: torch.Tensor | None, memory
    ) -> dict[str, torch.Tensor | None]:
        """{layer index: (batch, L, hidden)} of this call, the 2D padding mask over past + current positions (or
        None), and the memory passed with the call (or None) -> the output fields."""
        raise NotImplementedError

    def init_design_weights(self, config) -> None:
        raise NotImplementedError


@dataclass
class _SideCall:
    attention_mask: torch.Tensor | None
    memory: object
    blind: bool  # the call continues a KV cache and no memory of the earlier positions came with it
    captured: dict[int, torch.Tensor] = field(default_factory=dict)


class _SideScratch:
    """The scratch of the call in progress (one `_SideCall` per branch, or None between calls), shared by a base model
    and the hooks of the layers its branches read."""

    calls: list[_SideCall] | None = None


@dataclass(frozen=True)
class _Spec:
    """What the hooks need of a branch, fixed at construction (PEFT may later wrap the module itself)."""

    name: str
    layers: tuple[int, ...]
    output_classes: dict
    output_fields: tuple[str, ...]
    memory_keyword: str | None


@torch.compiler.disable  # the per-call scratch is Python state; compiled code runs around it
def begin_side_call(base_model: nn.Module, arguments: dict) -> None:
    """Before the stock forward: take each branch's memory keyword out of the call's keyword `arguments` (in place)
    and open the call's scratch, which the layer hooks fill."""
    calls = []
    for spec in base_model._side_branch_specs:
        memory = arguments.pop(spec.memory_keyword, None) if spec.memory_keyword else None
        mask = arguments.get("attention_mask")
        cache = cache_argument(arguments)
        continues_cache = cache is not None and cache.get_seq_length() > 0
        blind = continues_cache and spec.memory_keyword is not None and memory is None
        padding = mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None  # not a 4D or per-layer mask
        calls.append(_SideCall(padding, memory, blind))
    base_model._side_scratch.calls = calls


def discard_side_call(base_model: nn.Module) -> None:
    """Drop the scratch of a call that stopped before `end_side_call` (e.g. a hook raised to end the forward early)."""
    base_model._side_scratch.calls = None


@torch.compiler.disable  # the per-call scratch is Python state; compiled code runs around it
def _capture_layer(scratch: _SideScratch, layer_idx: int, module, args, output):
    """Forward hook of a layer a branch reads (bound with `functools.partial`)."""
    for call in scratch.calls or ():
        call.captured[layer_idx] = output[0] if isinstance(output, tuple) else output


def _with_fields(output, fields: dict, output_classes: dict):
    """`output` as the subclass declared for its class, with `fields` added; unchanged if none is declared."""
    output_class = output_classes.get(type(output))
    if output_class is None or isinstance(output, tuple):
        return output
    return output_class(**output, **fields)


@torch.compiler.disable  # the per-call scratch is Python state; compiled code runs around it
def end_side_call(base_model: nn.Module, output):
    """After the stock forward: the branches' fields from the captured states, added to the base model's `output`
    (and left for the head that called it); closes the call's scratch."""
    calls, base_model._side_scratch.calls = base_model._side_scratch.calls or [], None
    fields, output_classes = {}, {}
    for spec, call in zip(base_model._side_branch_specs, calls, strict=True):
        missing = [i for i in spec.layers if i not in call.captured]
        if missing:  # e.g. a forward that stopped early; never a silent partial result
            raise RuntimeError(f"The side branch {spec.name} did not see the hidden states of layers {missing}.")
        if call.blind:
            fields.update(dict.fromkeys(spec.output_fields))
        else:
            # Called by name: PEFT may have wrapped the module (`modules_to_save`) after the hooks were installed.
            fields.update(getattr(base_model, spec.name)(call.captured, call.attention_mask, call.memory))
        output_classes.update(spec.output_classes)
    sink = base_model.__dict__.get("_side_sink")
    if sink is not None:
        sink.update(fields=fields, output_classes=output_classes)
    return _with_fields(output, fields, output_classes)


@torch.compiler.disable  # the per-call scratch is Python state; compiled code runs around it
def _before_head_forward(head, args, kwargs):
    head.base_model._side_sink = {}
    return args, kwargs


@torch.compiler.disable  # the per-call scratch is Python state; compiled code runs around it
def _after_head_forward(head, args, output):
    sink = head.base_model.__dict__.pop("_side_sink", None) or {}
    if not sink:
        return output
    return _with_fields(output, sink["fields"], sink["output_classes"])


def install_side_branches(base_model: nn.Module, branches: list[SideBranch], layers: nn.ModuleList) -> None:
    """Attach `branches` to `base_model` and hook the `layers` they read (called at construction). The base model's
    input preparation calls `begin_side_call` and `end_side_call` around its stock forward."""
    specs = []
    for branch in branches:
        base_model.add_module(branch.attribute_name, branch)
        layers_read = tuple(branch.layer_indices())
        specs.append(
            _Spec(
                branch.attribute_name,
                layers_read,
                dict(branch.output_classes),
                tuple(branch.output_fields),
                branch.memory_keyword,
            )
        )
    base_model._side_branch_specs = tuple(specs)
    base_model._side_scratch = _SideScratch()
    for layer_idx in sorted({i for spec in specs for i in spec.layers}):
        layers[layer_idx].register_forward_hook(functools.partial(_capture_layer, base_model._side_scratch, layer_idx))


def install_side_outputs_on_head(head: nn.Module) -> None:
    """Give a head (e.g. a causal LM) the side fields of its base model's output."""
    head.register_forward_pre_hook(_before_head_forward, with_kwargs=True)
    head.register_forward_hook(_after_head_forward)


__all__ = [
    "SideBranch",
    "begin_side_call",
    "discard_side_call",
    "end_side_call",
    "install_side_branches",
    "install_side_outputs_on_head",
]
