"""The upstream tiny model testers, with the zoo's config classes.

The per-model test files of Transformers (tests/models/*/test_modeling_*.py, tests/causal_lm_tester.py) are not in
its source distribution, so their tiny tester values are copied here, each table naming its source. The inputs are
built as those testers build them, with `ids_tensor` / `random_attention_mask` of the common tests.
"""

from inspect import signature

import torch


# tests/causal_lm_tester.py, `CausalLMModelTester.__init__` defaults (Transformers 5.x); tests/models/llama and
# tests/models/gemma3 use them unchanged for LlamaModelTester and Gemma3TextModelTester.
CAUSAL_LM_VALUES = dict(
    batch_size=13,
    seq_length=7,
    is_training=True,
    use_input_mask=True,
    use_token_type_ids=False,
    use_labels=True,
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=2,
    intermediate_size=37,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=16,
    type_sequence_label_size=2,
    initializer_range=0.02,
    num_labels=3,
    num_choices=4,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    is_decoder=False,
    head_dim=16,  # hidden_size // num_attention_heads, as the tester sets it
)

# Gemma 3 text: the causal-LM values, with one layer of each type. Upstream's default for two layers is two sliding
# layers, under which the RoPE-scaling tests' helper (`_set_config_rope_params`) cannot tell that the rope parameters
# are per layer type and sets them where Gemma 3 does not read them: the stock model then fails those tests too.
GEMMA3_VALUES = {**CAUSAL_LM_VALUES, "layer_types": ["sliding_attention", "full_attention"]}

# tests/models/bert/test_modeling_bert.py, `BertModelTester.__init__` defaults and `get_config` (Transformers 5.x).
BERT_VALUES = dict(
    batch_size=13,
    seq_length=7,
    is_training=True,
    use_input_mask=True,
    use_token_type_ids=True,
    use_labels=True,
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=512,
    type_vocab_size=16,
    type_sequence_label_size=2,
    initializer_range=0.02,
    num_labels=3,
    num_choices=4,
    is_decoder=False,
)
BERT_CONFIG_ARGS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "max_position_embeddings",
    "type_vocab_size",
    "is_decoder",
    "initializer_range",
)


def backbone_values(backbone_name: str) -> tuple[dict, bool, dict]:
    """(tiny tester values, causal, `ConfigTester` keyword arguments) of a backbone, as its upstream test class has
    them (BERT's test checks its config at hidden_size 37)."""
    if backbone_name == "bert":
        return BERT_VALUES, False, {"hidden_size": 37}
    if backbone_name == "gemma3":
        return GEMMA3_VALUES, True, {}
    return CAUSAL_LM_VALUES, True, {}


class TinyModelTester:
    """A model tester as upstream's: tiny values as attributes, `get_config`, `prepare_config_and_inputs_for_common`.

    stock_config_class: the backbone's stock config; which tester values reach the config is decided on it, so the
        stock and the zoo classes of a backbone get the same values.
    config_class: the class `get_config` builds (the zoo's config, or the stock one).
    settings: design fields set on top (the identity or the active setting).
    """

    values: dict = {}
    stock_config_class: type = None
    config_class: type = None
    settings: dict = {}
    causal: bool = True

    def __init__(self, parent, common):
        self.parent = parent
        self._common = common
        for key, value in self.values.items():
            setattr(self, key, value)

    def config_args(self) -> list[str]:
        if not self.causal:
            return list(BERT_CONFIG_ARGS)
        # As CausalLMModelTester.get_config: the tester values named in the config's signature, and pad_token_id.
        names = [name for name in signature(self.stock_config_class.__init__).parameters if name != "self"]
        return [name for name in [*names, "pad_token_id"] if name in self.values]

    def get_config(self):
        return self.config_class(**{name: self.values[name] for name in self.config_args()}, **self.settings)

    def prepare_config_and_inputs(self):
        ids_tensor = self._common.ids_tensor
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        if self.causal:
            input_mask = torch.tril(torch.ones_like(input_ids))
        else:
            input_mask = self._common.random_attention_mask([self.batch_size, self.seq_length])
        token_type_ids = None
        if self.use_token_type_ids:
            token_type_ids = ids_tensor([self.batch_size, self.seq_length], self.type_vocab_size)
        sequence_labels = ids_tensor([self.batch_size], self.type_sequence_label_size)
        token_labels = ids_tensor([self.batch_size, self.seq_length], self.num_labels)
        choice_labels = ids_tensor([self.batch_size], self.num_choices)
        config = self.get_config()
        return config, input_ids, token_type_ids, input_mask, sequence_labels, token_labels, choice_labels

    def prepare_config_and_inputs_for_common(self):
        config, input_ids, token_type_ids, input_mask, *_ = self.prepare_config_and_inputs()
        inputs = {"input_ids": input_ids, "attention_mask": input_mask}
        if token_type_ids is not None:
            inputs = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": input_mask}
        return config, inputs
