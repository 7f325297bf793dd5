"""Llama-family decoders (RoPE, RMSNorm, SwiGLU, grouped-query attention); Mistral without a sliding window and
Qwen2 checkpoints map onto it exactly."""

from transformers import PreTrainedConfig
from transformers.models.llama import modeling_llama as stock

from ..core.attention import DesignAttention
from ..core.positions import float_positions_are_coordinates
from .base import Backbone, UnsupportedSourceError


class LlamaDesignAttention(DesignAttention, stock.LlamaAttention):
    """`LlamaAttention` with logit terms; the attention input x is the layer input after `input_layernorm`."""

    def project_qkv(self, hidden_states, position_embeddings):
        hidden_shape = (*hidden_states.shape[:-1], -1, self.head_dim)
        query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        cos, sin = position_embeddings
        query, key = stock.apply_rotary_pos_emb(query, key, cos, sin)
        return query, key, value

    def project_output(self, attn_output):
        return self.o_proj(attn_output)


def _llama_family_kwargs(source: PreTrainedConfig) -> dict:
    kwargs = source.to_dict()
    if source.model_type == "mistral" and kwargs.get("sliding_window") is not None:
        raise UnsupportedSourceError(
            "Mistral with a sliding window does not map onto Llama exactly; set sliding_window=None if the model was "
            "never used beyond its window."
        )
    if source.model_type == "qwen2":
        if kwargs.get("use_sliding_window"):
            raise UnsupportedSourceError("Qwen2 with use_sliding_window=True does not map onto Llama exactly.")
        # Qwen2 has q/k/v biases and no o_proj bias; Llama's attention_bias adds all four (conversion zeroes o_proj's).
        kwargs["attention_bias"] = True
    return kwargs


LLAMA = Backbone(
    name="llama",
    stock_model_type="llama",
    stock_classes={
        "AutoModel": stock.LlamaModel,
        "AutoModelForCausalLM": stock.LlamaForCausalLM,
        "AutoModelForSequenceClassification": stock.LlamaForSequenceClassification,
    },
    attention_class=stock.LlamaAttention,
    design_attention=lambda layer: LlamaDesignAttention(layer.config, layer.layer_idx),
    source_model_types=("llama", "mistral", "qwen2"),
    default_auto_class="AutoModelForCausalLM",
    source_config_kwargs=_llama_family_kwargs,
    absent_in_source=lambda source: ("self_attn.o_proj.bias",) if source.model_type == "qwen2" else (),
    prepare_position_inputs=float_positions_are_coordinates,
    rotary_embedding="rotary_emb",
    layer_class=stock.LlamaDecoderLayer,
    feed_forward="layers.{}.mlp",
)
