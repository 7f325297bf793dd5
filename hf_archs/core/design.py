"""A design, declared once: its config fields, identity and active settings, capabilities and conversion plan.

Every shared piece of hf-archs (model construction, the registry, conversion, the CLI, the contract suite, model
cards) reads a `Design` object; none of them names a design. A design lives in one folder,
`hf_archs/designs/<name>/`, whose `design.py` builds its `Design`.

`hf_archs/designs/README.md` shows the room of a design, how to add one, and where the coming designs plug in.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields


class UnknownDesignKeyError(ValueError):
    """A config key that looks like a design's (it has a design's prefix) but is not one of its fields."""


@dataclass(frozen=True)
class Capabilities:
    """What a design can promise, read by conversion, the contract suite and the CLI.

    conversion: "exact" (the identity setting reproduces the stock model within 1e-5), "fitted" (new parts fitted to
        stock ones, error reported) or "trained" (a short training run, fidelity reported).
    cached_generation: left-to-right decoding with a KV cache computes the same function as a full forward.
    kernels: extra `attn_implementation` keys (fused kernels) the design provides besides "eager" and "sdpa".
    identity_gradient: which design parameters get a gradient at the identity setting. "all": every one of them;
        "gate_first": only the gate whose zero value is the identity (a weight multiplying the design's term), since
        the term's inner parameters are multiplied by it; they get gradient once one step moves the gate off zero.
    discrete_choices: the forward makes discrete per-token choices (e.g. a top-k), so half-precision rounding of its
        inputs can flip a few of them and move those tokens' outputs by more than rounding; checks of half precision
        then bound the 90th percentile of the error, and the worst one only by finiteness.
    new_parameters: the design adds trainable parameters of its own (False for designs that only change structure,
        e.g. per-layer masks): checks that such parameters exist, train and are saved apply only when True.
    changes_main_path: the design changes the model's main outputs (logits, hidden states) once active. False for a
        side branch that only reads hidden states (`Design.side_branch`): the main outputs are then the stock model's
        for any weights of the design, and its parameters train through the side outputs, not the LM loss.
    bounded_positions: the design covers token positions below `max_position_embeddings` only (e.g. a learned table
        over absolute positions) and refuses later ones, where a stock decoder with RoPE runs on (RoPE scaling).
    flex_attention: the design leaves every layer's attention the stock softmax(s·q·kᵀ + mask)·v and changes at most
        which keys a query sees (`Design.layer_masks`), so Transformers' `flex_attention` kernel computes it, each
        layer's pattern as a block mask; a model type accepts that key only if every design it carries says so. A
        design with a logit term cannot (the stock kernel would drop the term).
    """

    conversion: str = "exact"
    cached_generation: bool = True
    kernels: tuple[str, ...] = ()
    identity_gradient: str = "all"
    discrete_choices: bool = False
    new_parameters: bool = True
    changes_main_path: bool = True
    bounded_positions: bool = False
    flex_attention: bool = False

    def __post_init__(self):
        if self.conversion not in ("exact", "fitted", "trained"):
            raise ValueError(f"conversion must be exact, fitted or trained, got {self.conversion!r}")
        if self.identity_gradient not in ("all", "gate_first"):
            raise ValueError(f"identity_gradient must be all or gate_first, got {self.identity_gradient!r}")


@dataclass(frozen=True)
class ConversionPlan:
    """How a stock checkpoint becomes this design, after the stock weights are copied.

    initialize: dotted path "package.module:function" of `fn(model, source_model, report) -> None` that sets the new
        parts (a fit or a short training); None when the design's own weight init already gives the identity.
        A path, not a function: code that travels with checkpoints never imports conversion code.
    atol: the fidelity verified after conversion at the identity setting (max |Δ| of the outputs, float32).
    start: for a design without an identity setting (conversion "trained"), the field values conversion starts from.
    """

    initialize: str | None = None
    atol: float = 1e-5
    start: dict | None = None
    # Stock weights (name suffixes) the design replaces rather than copies (e.g. a position table an MLP is fitted
    # to): the converter does not refuse them as unexpected; `initialize` reads them from the source folder.
    replaces: tuple[str, ...] = ()


# The key prefix of every declared design: a config refuses the keys of designs it does not carry, too.
_DECLARED_PREFIXES: set[str] = set()


@dataclass(frozen=True)
class Design:
    """One design of the zoo.

    name: the design's name (`hf-archs convert --design NAME`).
    fields: the dataclass mixin holding the design's config fields (their defaults and docs); every field name
        starts with `key_prefix`, so a misspelt key can be told from an unrelated one and refused.
    identity: field values that make the model compute its stock model's function; None where none does (a design
        converted by training starts from `ConversionPlan.start`).
    active: field values that switch the design's term on (tests, demos).
    logit_term: the `LogitTerm` module class a layer gets (attention designs), or None.
    chosen_layers: config -> the indices of the layers that get the design (None: all; `layer_indices` applies it).
    tasks: names of the evaluation tasks that judge this design.
    position_encoding: the `PositionEncoding` module class (`hf_archs.core.positions`) that replaces the backbone's
        position embedding at construction (position designs), or None.
    layer_masks: config -> {layer index: `core.masks.MaskPattern`}: layers that build their own attention mask
        (per-layer masks); the other layers keep their backbone's mask.
    feed_forward_input: the `FeedForwardInput` module class (`hf_archs.core.feed_forward`) whose output is added to
        the FFN input of the design's layers (`chosen_layers`), with its `TokenTable` on the base model; or None.
    identity_by_backbone: backbone name -> identity setting where it differs per backbone (e.g. "every layer causal"
        on a decoder, "every layer bidirectional" on an encoder); merged over `identity` by `identity_for`.
    layer_extension: the `LayerExtension` module class (`hf_archs.core.layers`) attached at construction to each
        chosen layer (`chosen_layers`), which maps the stock layer's output to the layer's new output and may run whole
        layers of its own (structural designs such as multi-scale layers), or None.
    math: markdown of the design's math, complete and the one place it is written: the design package's docstring
        (`with_math`), the model cards (`hf_archs.evaluation.cards.refresh_math`), converted checkpoints' READMEs
        and `hf-archs list --math` render it.
    position_encoding_when: config -> whether `position_encoding` is built for this config (None: always), for a
        design whose settings choose between replacing the position table and other mechanisms (or that also runs on
        backbones without a table).
    keeps_rotary: config -> whether the backbone's rotary position embedding stays (None: it does); False turns it
        into the identity (cos = 1, sin = 0), e.g. for a design that puts positions elsewhere or nowhere (NoPE).
    field_prefix: the prefix of the config fields when the design shares another design's fields (a variant such
        as a "pure" form of a "hybrid" design); None means `name + "_"`.
    side_branch: the `core.side_branch.SideBranch` module class built from the config in the base model: it reads
        chosen layers' hidden states through hooks (never changing them) and adds fields to the outputs.
    runs_on: backbone -> whether the design can be built on that `Backbone` (None: on every backbone); the registry
        generates the design's model types on those it runs on.
    kernels_refused_by: config -> why this config's settings rule out the design's kernels (`capabilities.kernels`),
        or None where they can run (None: they always can); the model then refuses those keys, saying why.
    finish_base_model: base model -> None, the last step of building a design base model once every design's parts
        are attached, for what no declaration above covers (e.g. a stock module's forward that must hand a design's
        module more than the stock forward does); None for most designs.
    """

    name: str
    summary: str
    math: str
    fields: type
    identity: dict | None
    active: dict
    capabilities: Capabilities = Capabilities()
    conversion: ConversionPlan = ConversionPlan()
    logit_term: type | None = None
    chosen_layers: Callable[[object], list[int]] | None = None
    tasks: tuple[str, ...] = ()
    position_encoding: type | None = None
    field_prefix: str | None = None
    layer_masks: Callable[[object], dict] | None = None
    identity_by_backbone: dict[str, dict] | None = None
    position_encoding_when: Callable[[object], bool] | None = None
    keeps_rotary: Callable[[object], bool] | None = None
    side_branch: type | None = None
    layer_extension: type | None = None
    feed_forward_input: type | None = None
    runs_on: Callable[[object], bool] | None = None
    kernels_refused_by: Callable[[object], str | None] | None = None
    finish_base_model: Callable[[object], None] | None = None

    def __post_init__(self):
        _DECLARED_PREFIXES.add(self.key_prefix)
        trained = self.capabilities.conversion == "trained"
        if (self.identity is None) != trained or (self.conversion.start is None) != (not trained):
            raise ValueError(
                f"Design {self.name!r}: a design converted by training has no identity setting but a "
                "`ConversionPlan.start`; every other design has an identity setting and no start."
            )
        if self.capabilities.flex_attention and self.logit_term is not None:
            raise ValueError(
                f"Design {self.name!r} adds a logit term, which the stock flex_attention kernel would drop: it cannot "
                "declare the flex_attention capability."
            )

    def identity_for(self, backbone: str) -> dict:
        """The identity setting on `backbone` (the settings that make the model its stock model)."""
        if self.identity is None:
            raise ValueError(f"No setting of the {self.name} design is its stock model (it is converted by training).")
        return {**self.identity, **(self.identity_by_backbone or {}).get(backbone, {})}

    def conversion_setting(self, backbone: str) -> dict:
        """The setting a conversion onto `backbone` gives by default: the identity setting, or for a design
        converted by training the setting its training starts from."""
        return self.conversion.start if self.identity is None else self.identity_for(backbone)

    @property
    def key_prefix(self) -> str:
        return self.field_prefix or f"{self.name}_"

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.fields))

    def layer_indices(self, config) -> list[int]:
        if self.chosen_layers is None:
            return list(range(config.num_hidden_layers))
        return self.chosen_layers(config)

    def check_settings(self, settings: dict) -> None:
        """Refuse keys of `settings` that are not fields of this design (e.g. `--set` of the CLI)."""
        unknown = sorted(set(settings) - set(self.field_names))
        if unknown:
            raise UnknownDesignKeyError(
                f"{unknown} are not fields of the {self.name!r} design; its fields are {list(self.field_names)}."
            )


def with_math(doc: str | None, *designs: Design) -> str | None:
    """A design package's docstring followed by its designs' math, so that `help(package)` shows the math that
    `Design.math` holds (None stays None: `python -OO` strips docstrings)."""
    if doc is None:
        return None
    return doc + "".join(f"\nThe math of the {design.name} design:\n\n{design.math}\n" for design in designs)


@dataclass(kw_only=True)
class DesignFields:
    """Base of every design's config-field mixin. A config class lists the designs it carries in `designs`."""

    def validate_design_fields(self) -> None:
        """Check the design's own fields against the rest of the config; raise ValueError naming the field."""


def layers_in_field(field_name: str) -> Callable[[object], list[int]]:
    """A `Design.chosen_layers` reading the layer indices from a config field (None in it: every layer)."""

    def chosen_layers(config) -> list[int]:
        layers = getattr(config, field_name)
        return list(range(config.num_hidden_layers)) if layers is None else sorted(layers)

    return chosen_layers


def check_layer_indices(field_name: str, layers: list[int] | None, num_hidden_layers: int) -> None:
    """Refuse a design's layer-selection field (None = every layer) unless it holds distinct indices of layers, at
    least one (an empty list would build the design with nothing of its own)."""
    if layers is None:
        return
    bad = [i for i in layers if not (isinstance(i, int) and 0 <= i < num_hidden_layers)]
    if not layers or bad or len(set(layers)) != len(layers):
        raise ValueError(
            f"{field_name}={layers} must be one or more distinct layer indices in [0, {num_hidden_layers}) "
            "(None: every layer)."
        )


def check_design_keys(config, designs: tuple[Design, ...]) -> None:
    """Refuse config attributes that carry the prefix of one of `designs`, or of another declared design, but are none
    of the fields of `designs`.

    `SemanticBertConfig(semantic_tau=0.5)` (a typo of `semantic_tau_init`) or `SemanticLlamaConfig(
    resonant_lambda_init=0.1)` (another design's field) would otherwise be stored and ignored.
    """
    known = {name for design in designs for name in design.field_names}
    prefixes = tuple(sorted(_DECLARED_PREFIXES | {design.key_prefix for design in designs}))
    unknown = sorted(key for key in vars(config) if key.startswith(prefixes) and key not in known)
    if unknown:
        fields_by_design = {design.name: list(design.field_names) for design in designs}
        raise UnknownDesignKeyError(
            f"{type(config).__name__} got unknown design keys {unknown}; known design fields: {fields_by_design}."
        )


__all__ = [
    "Capabilities",
    "ConversionPlan",
    "Design",
    "DesignFields",
    "UnknownDesignKeyError",
    "check_design_keys",
    "check_layer_indices",
]
