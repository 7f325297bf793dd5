"""Gemma 3 text decoders (`gemma3_text`): RoPE with two thetas, QK-norm, sandwich norms, GeGLU, sliding-window
layers interleaved with full layers (5:1), one KV head on the small models."""

from transformers.models.gemma3 import modeling_gemma3 as stock

from ..core.attention import DesignAttention
from ..core.positions import float_positions_are_coordinates
from .base import Backbone, UnsupportedSourceError


class Gemma3DesignAttention(DesignAttention, stock.Gemma3Attention):
    """`Gemma3Attention` with logit terms; x is the layer input after `input_layernorm`. Sliding-window layers get
    the window through their mask (built by the base model) and `sliding_window` (for kernels)."""

    def project_qkv(self, hidden_states, position_embeddings):
        hidden_shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        query = self.q_norm(self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2))
        key = self.k_norm(self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2))
        value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        cos, sin = position_embeddings
        query, key = stock.apply_rotary_pos_emb(query, key, cos, sin)
        return query, key, value

    def project_output(self, attn_output):
        return self.o_proj(attn_output)


def _validate(config):
    if config.attn_logit_softcapping is not None:
        raise ValueError("Gemma 3 designs do not support attn_logit_softcapping (Gemma 3 checkpoints have none).")


def _gemma3_kwargs(source) -> dict:
    if source.model_type == "gemma3":
        raise UnsupportedSourceError(
            "Multimodal Gemma 3 (model type 'gemma3') is not supported; convert its text model (gemma3_text)."
        )
    return source.to_dict()


GEMMA3 = Backbone(
    name="gemma3",
    stock_model_type="gemma3_text",
    stock_classes={
        "AutoModel": stock.Gemma3TextModel,
        "AutoModelForCausalLM": stock.Gemma3ForCausalLM,
        "AutoModelForSequenceClassification": stock.Gemma3TextForSequenceClassification,
    },
    attention_class=stock.Gemma3Attention,
    design_attention=lambda layer: Gemma3DesignAttention(layer.config, layer.layer_idx),
    source_model_types=("gemma3_text",),
    default_auto_class="AutoModelForCausalLM",
    source_config_kwargs=_gemma3_kwargs,
    validate_config=_validate,
    prepare_position_inputs=float_positions_are_coordinates,
    rotary_embedding="rotary_emb",
    layer_class=stock.Gemma3DecoderLayer,
    feed_forward="layers.{}.mlp",
)
