"""BERT-family encoders (learned absolute positions, post-LN, GELU), including sentence-transformers models such as
all-MiniLM-L6-v2."""

import torch
from transformers import PreTrainedConfig
from transformers.models.bert import modeling_bert as stock

from ..core.attention import DesignAttention
from ..core.inputs import input_shape
from .base import Backbone, UnsupportedSourceError


class BertDesignAttention(DesignAttention, stock.BertSelfAttention):
    """`BertSelfAttention` with logit terms; x is the layer input (BERT is post-LN: no norm before attention). The
    output projection stays in the stock `BertSelfOutput`."""

    def project_qkv(self, hidden_states, position_embeddings):
        hidden_shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
        query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.key(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.value(hidden_states).view(hidden_shape).transpose(1, 2)
        return query, key, value

    def attention_dropout_p(self) -> float:
        return self.dropout.p


def _bert_family_kwargs(source: PreTrainedConfig) -> dict:
    kwargs = source.to_dict()
    if kwargs.get("is_decoder") or kwargs.get("add_cross_attention"):
        raise UnsupportedSourceError("Only BERT encoders convert (is_decoder=False, add_cross_attention=False).")
    if kwargs.get("position_embedding_type", "absolute") != "absolute":
        raise UnsupportedSourceError("Only BERT with absolute position embeddings converts.")
    return kwargs


def _prepare_position_inputs(arguments: dict) -> None:
    """Stock `BertEmbeddings` gathers default token type ids with the position ids as an index, which float
    positions cannot be; those defaults are all zeros, so zeros are passed instead (the same function)."""
    position_ids = arguments.get("position_ids")
    if position_ids is None or not position_ids.is_floating_point() or arguments.get("token_type_ids") is not None:
        return
    shape, device = input_shape(arguments)
    arguments["token_type_ids"] = torch.zeros(shape, dtype=torch.long, device=device)


def _validate(config):
    if config.is_decoder or config.add_cross_attention:
        raise ValueError(f"{config.model_type} is an encoder: is_decoder and add_cross_attention must be False.")


BERT = Backbone(
    name="bert",
    stock_model_type="bert",
    stock_classes={
        "AutoModel": stock.BertModel,
        "AutoModelForMaskedLM": stock.BertForMaskedLM,
        "AutoModelForSequenceClassification": stock.BertForSequenceClassification,
        "AutoModelForTokenClassification": stock.BertForTokenClassification,
    },
    attention_class=stock.BertSelfAttention,
    design_attention=lambda layer: BertDesignAttention(
        layer.config, is_causal=layer.is_causal, layer_idx=layer.layer_idx
    ),
    source_model_types=("bert",),
    default_auto_class="AutoModel",
    source_config_kwargs=_bert_family_kwargs,
    validate_config=_validate,
    position_embedding="embeddings.position_embeddings",
    layers="encoder.layer",
    prepare_position_inputs=_prepare_position_inputs,
    layer_class=stock.BertLayer,
    # BertIntermediate: its input is the FFN input (BertOutput adds the residual from the attention output).
    feed_forward="encoder.layer.{}.intermediate",
)
