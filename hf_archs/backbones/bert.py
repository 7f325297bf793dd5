"""BERT-family encoders (learned absolute positions, post-LN, GELU), including sentence-transformers models such as
all-MiniLM-L6-v2."""

from transformers import PreTrainedConfig
from transformers.models.bert import modeling_bert as stock

from ..core.attention import DesignAttention
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
)
