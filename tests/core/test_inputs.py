"""Token positions for logit terms (`LogitTerm.uses_positions`): the positions a term sees are the ones the model uses
(RoPE's on decoders, the position embedding's on BERT), they survive the KV cache, and a position-reading term gives
exactly the model that a stock model gets from the same bias written into a 4D mask."""

import inspect
from dataclasses import dataclass

import pytest
import torch
from transformers import AutoModel, LlamaConfig
from transformers.models.llama import modeling_llama as llama

import hf_archs  # noqa: F401
from hf_archs import PositionalBertConfig
from hf_archs.backbones.bert import BERT
from hf_archs.backbones.llama import LLAMA
from hf_archs.core.attention import LogitTerm
from hf_archs.core.design import Capabilities, Design, DesignFields
from hf_archs.core.model_types import design_config_class, design_model_classes
from hf_archs.testing import tiny_bert_config


SLOPE = 0.25


class DistancePenalty(LogitTerm):
    """−slope·|i − j| for every head (ALiBi with one slope): the features are the positions themselves, so the keys'
    positions come back from the KV cache."""

    attribute_name = "distance_penalty"
    uses_positions = True
    num_features = 1

    def __init__(self, config):
        super().__init__()
        self.seen_positions = []

    def features(self, hidden_states, positions=None):
        self.seen_positions.append(positions.detach().clone())
        return positions.to(hidden_states.dtype)[..., None].expand(*hidden_states.shape[:-1], 1)

    def bias(self, query_features, key_features, dtype):
        distance = query_features[:, None, :, :1] - key_features[:, None, None, :, 0]
        return (-SLOPE * distance.abs()).to(dtype)

    def init_design_weights(self, config):
        pass


@dataclass(kw_only=True)
class DistanceFields(DesignFields):
    distance_unused: bool = False


DISTANCE = Design(
    name="distance",
    summary="a test term reading token positions",
    math="logits_h(i, j) += −slope·|p_i − p_j|",
    fields=DistanceFields,
    identity={},
    active={},
    capabilities=Capabilities(conversion="exact", cached_generation=True, new_parameters=False),
    logit_term=DistancePenalty,
    chosen_layers=lambda config: list(range(config.num_hidden_layers)),
)


DistanceLlamaConfig = design_config_class((DISTANCE,), LLAMA, module=__name__)
_llama_classes = design_model_classes(DistanceLlamaConfig, module=__name__).by_auto
DistanceLlamaModel, DistanceLlamaForCausalLM = _llama_classes["AutoModel"], _llama_classes["AutoModelForCausalLM"]
DistanceBertConfig = design_config_class((DISTANCE,), BERT, module=__name__)
DistanceBertModel = design_model_classes(DistanceBertConfig, module=__name__).by_auto["AutoModel"]


SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=64, pad_token_id=0)


def llama_pair(implementation: str):
    config = dict(**SHAPE, intermediate_size=64, num_key_value_heads=2)
    torch.manual_seed(0)
    design = DistanceLlamaForCausalLM(DistanceLlamaConfig(**config, attn_implementation=implementation)).eval()
    stock = llama.LlamaForCausalLM(LlamaConfig(**config, attn_implementation=implementation)).eval()
    stock.load_state_dict(design.state_dict())
    return design, stock


def first_layer_term(model) -> DistancePenalty:
    return next(module for module in model.modules() if isinstance(module, DistancePenalty))


def distance_mask(positions: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """The additive 4D mask (batch, 1, L, L) a stock model needs for the same function: the penalty where allowed,
    the dtype's minimum elsewhere."""
    penalty = -SLOPE * (positions[:, :, None] - positions[:, None, :]).abs()
    return torch.where(allowed[:, None], penalty[:, None], torch.finfo(torch.float32).min)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_position_term_equals_stock_llama_given_the_bias_as_a_4d_mask(implementation):
    design, stock = llama_pair(implementation)
    input_ids = torch.randint(1, 64, (2, 7))
    attention_mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]])
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    allowed = causal[None] & attention_mask.bool()[:, None, :]
    with torch.no_grad():
        actual = design(input_ids, attention_mask=attention_mask, position_ids=position_ids).logits
        expected = stock(
            input_ids, attention_mask=distance_mask(position_ids.float(), allowed), position_ids=position_ids
        ).logits
    valid = attention_mask.bool()
    torch.testing.assert_close(actual[valid], expected[valid], atol=1e-5, rtol=1e-5)
    # A test that can fail: without the penalty the outputs differ.
    with torch.no_grad():
        plain = stock(input_ids, attention_mask=attention_mask, position_ids=position_ids).logits
    assert (plain[valid] - expected[valid]).abs().max() > 1e-3


def test_terms_see_the_positions_rope_uses_including_after_the_cache():
    design, _ = llama_pair("sdpa")
    term = first_layer_term(design)
    input_ids = torch.randint(1, 64, (1, 5))
    with torch.no_grad():
        output = design(input_ids, use_cache=True)
        design(torch.randint(1, 64, (1, 2)), past_key_values=output.past_key_values, use_cache=True)
    assert term.seen_positions[0].tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0]]
    assert term.seen_positions[1].tolist() == [[5.0, 6.0]]
    fractional = torch.tensor([[0.0, 0.5, 1.0, 1.5, 2.0]])
    with torch.no_grad():
        design(input_ids, position_ids=fractional)
    assert term.seen_positions[2].tolist() == fractional.tolist()


def test_cached_generation_with_left_padding_equals_recompute():
    design, _ = llama_pair("sdpa")
    input_ids = torch.tensor([[0, 0, 5, 9, 11], [3, 4, 5, 6, 7]])
    attention_mask = (input_ids != 0).long()
    kwargs = dict(attention_mask=attention_mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
    with torch.no_grad():
        cached = design.generate(input_ids, use_cache=True, **kwargs)
        recomputed = design.generate(input_ids, use_cache=False, **kwargs)
    assert torch.equal(cached, recomputed)
    # generate() positions left-padded rows from their first real token.
    assert first_layer_term(design).seen_positions[0][0, 2:].tolist() == [0.0, 1.0, 2.0]


def test_bert_terms_see_the_position_embeddings_positions():
    torch.manual_seed(0)
    model = DistanceBertModel(DistanceBertConfig(**SHAPE, intermediate_size=64)).eval()
    term = first_layer_term(model)
    input_ids = torch.randint(1, 64, (2, 6))
    with torch.no_grad():
        model(input_ids, attention_mask=torch.ones_like(input_ids))
        model(input_ids, position_ids=torch.arange(6)[None] + 3)
    assert term.seen_positions[0].tolist() == [list(map(float, range(6)))] * 2  # per row, from the padding mask
    assert term.seen_positions[1].tolist() == [list(map(float, range(3, 9)))]


def test_a_layer_called_without_positions_says_so():
    design, _ = llama_pair("eager")
    layer = design.model.layers[0].self_attn
    hidden = torch.randn(1, 3, 32)
    cos_sin = design.model.rotary_emb(hidden, torch.arange(3)[None])
    with pytest.raises(ValueError, match="reads token positions"):
        layer(hidden, attention_mask=None, position_embeddings=cos_sin)


def test_a_direct_forward_call_prepares_the_inputs_too():
    """sentence-transformers 6 calls `model.forward(**features)`, which skips forward hooks: the layers then got no
    positions ("reads token positions, but its layer was called without them")."""
    torch.manual_seed(0)
    model = DistanceBertModel(DistanceBertConfig(**SHAPE, intermediate_size=64)).eval()
    input_ids = torch.randint(1, 64, (2, 6))
    attention_mask = torch.ones_like(input_ids)
    with torch.no_grad():
        expected = model(input_ids, attention_mask=attention_mask).last_hidden_state
        actual = model.forward(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    assert [p.tolist() for p in first_layer_term(model).seen_positions[-2:]] == [[list(map(float, range(6)))] * 2] * 2
    # The stock signature stays visible (Trainer and generate() read it).
    assert "attention_mask" in inspect.signature(model.forward).parameters
    assert "self" not in inspect.signature(model.forward).parameters


def test_left_padding_does_not_shift_the_positions_terms_see():
    """Without position_ids, a left-padded row's real tokens are at 0, 1, ... as when the row is alone (absolute
    position terms such as synthesizer attention then give a row the same output in a batch); the cache counts."""
    design, _ = llama_pair("eager")
    term = first_layer_term(design)
    input_ids = torch.tensor([[0, 0, 5, 9, 11], [3, 4, 5, 6, 7]])
    attention_mask = (input_ids != 0).long()
    with torch.no_grad():
        output = design(input_ids, attention_mask=attention_mask, use_cache=True)
        step_mask = torch.cat([attention_mask, torch.ones(2, 1, dtype=torch.long)], dim=-1)
        design(torch.tensor([[8], [8]]), attention_mask=step_mask, past_key_values=output.past_key_values)
    assert term.seen_positions[0].tolist() == [[0.0, 0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0, 4.0]]
    assert term.seen_positions[1].tolist() == [[3.0], [5.0]]


def test_float_positions_read_the_input_shape_from_inputs_embeds_too():
    """Float `position_ids` make the input preparation build inputs of the call's shape (decoders: an all-ones mask;
    BERT: zero token type ids), taken from `input_ids` or else `inputs_embeds` (`core.inputs.input_shape`)."""
    decoder, _ = llama_pair("sdpa")
    config = tiny_bert_config(positional_encoding="sinusoidal").to_dict()
    torch.manual_seed(0)
    encoder = AutoModel.from_config(PositionalBertConfig(**{**config, "model_type": "positional_bert"})).eval()
    input_ids = torch.randint(1, 64, (2, 5))
    positions = torch.tensor([[0.0, 0.5, 1.0, 1.5, 2.0]]).expand(2, -1)
    for model, embed in ((decoder.model, decoder.model.embed_tokens), (encoder, encoder.embeddings.word_embeddings)):
        with torch.no_grad():
            expected = model(input_ids=input_ids, position_ids=positions).last_hidden_state
            actual = model(inputs_embeds=embed(input_ids), position_ids=positions).last_hidden_state
        torch.testing.assert_close(actual, expected, atol=0, rtol=0)


def test_float_positions_without_a_mask_are_not_packing_boundaries():
    """Bug (Transformers >= 5.24): float position_ids without an attention mask were read as packed sequences (a new
    sequence wherever the step is not 1), so continuous BERT's normalized positions (0, 0.25, ...) gave each token a
    sequence of its own. Float positions get an all-ones mask; integer ones (packing) and calls with a mask or a
    cache are left alone."""
    from transformers import DynamicCache

    from hf_archs.core.inputs import mark_unpacked

    ids = torch.ones(2, 5, dtype=torch.long)
    fractional = {"input_ids": ids, "position_ids": torch.linspace(0, 1, 5)[None]}
    mark_unpacked(fractional)
    assert torch.equal(fractional["attention_mask"], torch.ones(2, 5, dtype=torch.long))
    packed = {"input_ids": ids, "position_ids": torch.tensor([[0, 1, 2, 0, 1]])}
    given_mask = {"input_ids": ids, "position_ids": torch.zeros(1, 5), "attention_mask": torch.zeros(2, 5)}
    cached = {"input_ids": ids, "position_ids": torch.zeros(1, 5), "past_key_values": DynamicCache()}
    for arguments in (packed, given_mask, cached):
        before = dict(arguments)
        mark_unpacked(arguments)
        assert arguments.keys() == before.keys() and all(arguments[k] is before[k] for k in before)
