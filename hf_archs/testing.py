"""Tiny random stock checkpoints of every backbone, and the zoo cases built on them (for tests and benchmarks).

Like `transformers.testing_utils`: small, seeded, offline. The contract suite is parametrized over `CASES`.
"""

from dataclasses import dataclass

from transformers import (
    BertConfig,
    BertForMaskedLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
)

from .registry import ZOO, ZooModel


VOCAB = 128


@dataclass(frozen=True)
class StockVariant:
    backbone: str
    name: str
    config: object
    model_class: type
    head_auto_class: str


# Small enough for 2 CPU cores, large enough for GQA (4 query heads over 2 KV heads) and two layers.
TINY_SHAPE = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128
)
TINY = {**TINY_SHAPE, "vocab_size": VOCAB, "pad_token_id": 0}  # what every backbone's tiny config shares


def tiny_llama_config(**overrides) -> LlamaConfig:
    return LlamaConfig(**{**TINY, "bos_token_id": 1, "eos_token_id": 2, **overrides})


def tiny_gemma3_config(**overrides) -> Gemma3TextConfig:
    # One sliding and one full layer; a window shorter than the test batches so that it really masks.
    gemma3 = dict(num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16, bos_token_id=2, eos_token_id=1)
    layers = dict(layer_types=["sliding_attention", "full_attention"], sliding_window=4)
    return Gemma3TextConfig(**{**TINY, **gemma3, **layers, **overrides})


def tiny_bert_config(**overrides) -> BertConfig:
    # No dropout: training-mode tests compare runs.
    return BertConfig(**{**TINY, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, **overrides})


STOCK_VARIANTS = [
    StockVariant(
        "llama",
        "gqa_untied",
        tiny_llama_config(num_key_value_heads=2, tie_word_embeddings=False),
        LlamaForCausalLM,
        "AutoModelForCausalLM",
    ),
    StockVariant(
        "llama",
        "mha_tied",
        tiny_llama_config(num_key_value_heads=4, tie_word_embeddings=True),
        LlamaForCausalLM,
        "AutoModelForCausalLM",
    ),
    StockVariant("gemma3", "sliding", tiny_gemma3_config(), Gemma3ForCausalLM, "AutoModelForCausalLM"),
    StockVariant("bert", "base", tiny_bert_config(), BertForMaskedLM, "AutoModelForMaskedLM"),
]


@dataclass(frozen=True)
class Case:
    """One design × one stock variant of its backbone: the unit the contract suite is parametrized over."""

    entry: ZooModel
    variant: StockVariant

    @property
    def id(self) -> str:
        return f"{self.entry.model_type}-{self.variant.name}"

    @property
    def is_decoder(self) -> bool:
        return self.entry.is_decoder

    @property
    def decodes_with_cache(self) -> bool:
        """A decoder whose designs keep left-to-right KV-cache decoding (capability `cached_generation`)."""
        return self.is_decoder and all(design.capabilities.cached_generation for design in self.entry.designs)

    @property
    def has_identity(self) -> bool:
        """Some setting of the design computes the stock model (not so for a design converted by training)."""
        return all(design.capabilities.conversion != "trained" for design in self.entry.designs)

    @property
    def keeps_query_key(self) -> bool:
        """The logits keep q·k (a term may replace it, and with it the rotary positions that enter through it)."""
        return not any(getattr(design.logit_term, "replaces_query_key", False) for design in self.entry.designs)

    @property
    def adds_parameters(self) -> bool:
        """Some design of the model type adds parameters of its own (capability `new_parameters`)."""
        return any(design.capabilities.new_parameters for design in self.entry.designs)

    @property
    def changes_main_path(self) -> bool:
        """Some design changes the main outputs once active (capability `changes_main_path`; False for designs that
        only add a side branch)."""
        return any(design.capabilities.changes_main_path for design in self.entry.designs)

    @property
    def side_outputs(self) -> tuple[str, ...]:
        """Output fields of the designs' side branches that a loss can be put on."""
        return tuple(
            name
            for design in self.entry.designs
            if design.side_branch
            for name in design.side_branch.trainable_outputs
        )


CASES = [
    Case(entry, variant) for entry in ZOO for variant in STOCK_VARIANTS if variant.backbone == entry.backbone.name
]
