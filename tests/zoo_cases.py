"""The parametrization of the contract suite: every zoo design × the random stock variants of its backbone."""

from dataclasses import dataclass
import pytest
from transformers import BertConfig, BertForMaskedLM, LlamaConfig, LlamaForCausalLM

from hf_archs.registry import ZOO, ZooModel

VOCAB = 128


@dataclass(frozen=True)
class StockVariant:
    backbone: str
    name: str
    config: object
    model_class: type
    head_auto_class: str


STOCK_VARIANTS = [
    StockVariant(
        "llama", "gqa_untied",
        LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                    max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        LlamaForCausalLM, "AutoModelForCausalLM",
    ),
    StockVariant(
        "llama", "mha_tied",
        LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True,
                    max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        LlamaForCausalLM, "AutoModelForCausalLM",
    ),
    StockVariant(
        "bert", "base",
        BertConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=128, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0, pad_token_id=0),
        BertForMaskedLM, "AutoModelForMaskedLM",
    ),
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
        return "AutoModelForCausalLM" in self.entry.model_classes


CASES = [Case(entry, variant) for entry in ZOO for variant in STOCK_VARIANTS if variant.backbone == entry.backbone.name]


def case_params(predicate=lambda case: True):
    return [pytest.param(case, id=case.id) for case in CASES if predicate(case)]
