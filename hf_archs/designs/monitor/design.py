"""The monitor design, declared once: config fields, the side-branch module, its output classes, capabilities."""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from ...core.design import Capabilities, Design, DesignFields, check_layer_indices
from ...core.side_branch import SideBranch


@dataclass(kw_only=True)
class MonitorFields(DesignFields):
    """Config fields of the parent's monitor.

    monitor_layers: layers whose output hidden states the monitor reads (None: the last layer).
    monitor_window: W, how many positions (the current one included) a token's cross-attention looks back over.
    monitor_heads: heads of each cross-attention.
    monitor_dim: d, the width of the monitor (split over the heads).
    monitor_threshold: anomaly score above which a monitored generation strategy intervenes.
    """

    monitor_layers: list[int] | None = None
    monitor_window: int = 32
    monitor_heads: int = 4
    monitor_dim: int = 64
    monitor_threshold: float = 0.5

    def validate_design_fields(self):
        check_layer_indices("monitor_layers", self.monitor_layers, self.num_hidden_layers)
        if self.monitor_window < 1:
            raise ValueError(f"monitor_window must be >= 1, got {self.monitor_window}.")
        if self.monitor_heads < 1 or self.monitor_dim < 1 or self.monitor_dim % self.monitor_heads:
            raise ValueError(
                f"monitor_dim={self.monitor_dim} must be a positive multiple of monitor_heads={self.monitor_heads}."
            )
        if not 0.0 < self.monitor_threshold < 1.0:
            raise ValueError(f"monitor_threshold must lie in (0, 1), got {self.monitor_threshold}.")


def monitored_layers(config) -> list[int]:
    return list(config.monitor_layers) if config.monitor_layers is not None else [config.num_hidden_layers - 1]


def window_mask(query_length: int, key_length: int, window: int, device) -> torch.Tensor:
    """(Lq, Lk) boolean, True where query i (the last Lq of Lk positions) may read key j: i − W < j ≤ i."""
    query_positions = torch.arange(key_length - query_length, key_length, device=device)[:, None]
    key_positions = torch.arange(key_length, device=device)[None, :]
    return (key_positions <= query_positions) & (key_positions > query_positions - window)


@dataclass
class MonitorModelOutputWithPast(BaseModelOutputWithPast):
    """[`BaseModelOutputWithPast`] plus the monitor's fields.

    anomaly_logits: (batch, L) pre-sigmoid anomaly score s of every position of the call.
    anomaly_scores: (batch, L) σ(s), the probability that the token belongs to a wrong step.
    monitor_memory: (monitored layers, batch, past + L, hidden) the monitored states so far, returned when the
        call received a `monitor_memory` (pass it to the next cached call).
    """

    anomaly_logits: torch.FloatTensor | None = None
    anomaly_scores: torch.FloatTensor | None = None
    monitor_memory: torch.FloatTensor | None = None


@dataclass
class MonitorCausalLMOutputWithPast(CausalLMOutputWithPast):
    """[`CausalLMOutputWithPast`] plus the monitor's fields (see [`MonitorModelOutputWithPast`])."""

    anomaly_logits: torch.FloatTensor | None = None
    anomaly_scores: torch.FloatTensor | None = None
    monitor_memory: torch.FloatTensor | None = None


class MonitorReader(nn.Module):
    """One monitored layer: cross-attention from the current states to the window of earlier ones, and a projection
    of the current state; returns concat[c_l(i), S_l x_i] of width 2d."""

    def __init__(self, hidden_size: int, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden_size, dim)
        self.key = nn.Linear(hidden_size, dim)
        self.value = nn.Linear(hidden_size, dim)
        self.output = nn.Linear(dim, dim)
        self.state = nn.Linear(hidden_size, dim)

    def forward(self, states: torch.Tensor, query_length: int, allowed: torch.Tensor) -> torch.Tensor:
        # states (batch, Lk, hidden), the last `query_length` being this call's; allowed (batch or 1, Lq, Lk).
        batch, key_length, hidden = states.shape
        x = F.layer_norm(states, (hidden,))
        current = x[:, key_length - query_length :]
        shape = (batch, -1, self.heads, self.query.out_features // self.heads)
        query = self.query(current).view(shape).transpose(1, 2)  # (batch, heads, Lq, d_h)
        key = self.key(x).view(shape).transpose(1, 2)  # (batch, heads, Lk, d_h)
        value = self.value(x).view(shape).transpose(1, 2)
        logits = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(query.shape[-1])
        # finfo.min, not -inf: a padding query that may read nothing stays finite (its score is not used).
        logits = logits.masked_fill(~allowed[:, None], torch.finfo(logits.dtype).min)
        context = torch.matmul(logits.softmax(-1), value).transpose(1, 2).reshape(batch, query_length, -1)
        return torch.cat([self.output(context), self.state(current)], dim=-1)


class ParentMonitor(SideBranch):
    """The monitor of a decoder (see the design's docstring for the math)."""

    attribute_name = "monitor"
    output_classes = {
        BaseModelOutputWithPast: MonitorModelOutputWithPast,
        CausalLMOutputWithPast: MonitorCausalLMOutputWithPast,
    }
    output_fields = ("anomaly_logits", "anomaly_scores", "monitor_memory")
    trainable_outputs = ("anomaly_logits",)
    memory_keyword = "monitor_memory"

    def __init__(self, config):
        super().__init__()
        self.layers_read = monitored_layers(config)
        self.window = config.monitor_window
        dim = config.monitor_dim
        self.readers = nn.ModuleList(
            MonitorReader(config.hidden_size, dim, config.monitor_heads) for _ in self.layers_read
        )
        self.hidden = nn.Linear(2 * dim * len(self.layers_read), dim)
        self.score = nn.Linear(dim, 1)

    def layer_indices(self) -> list[int]:
        return self.layers_read

    def forward(self, hidden_states, attention_mask, memory):
        current = torch.stack([hidden_states[layer] for layer in self.layers_read])  # (M, batch, Lq, hidden)
        keep_memory = memory is not None
        if keep_memory and memory.numel() > 0:
            states = torch.cat([memory.to(current.dtype), current], dim=2)
        else:
            states = current
        query_length, key_length = current.shape[2], states.shape[2]
        allowed = window_mask(query_length, key_length, self.window, current.device)[None]
        if attention_mask is not None:
            if attention_mask.shape[-1] != key_length:
                raise ValueError(
                    f"The monitor got a padding mask over {attention_mask.shape[-1]} positions for {key_length} "
                    "states (memory + this call): pass the full 2D mask with the memory."
                )
            allowed = allowed & attention_mask[:, None, :].bool()
        features = torch.cat(
            [reader(states[m], query_length, allowed) for m, reader in enumerate(self.readers)], dim=-1
        )
        logits = self.score(F.gelu(self.hidden(features))).squeeze(-1)  # (batch, Lq)
        return {
            "anomaly_logits": logits,
            "anomaly_scores": torch.sigmoid(logits),
            "monitor_memory": states if keep_memory else None,
        }

    def init_design_weights(self, config):
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.normal_(module.weight, std=config.initializer_range)
                init.zeros_(module.bias)


MATH = """\
A side branch of a decoder scores every token for "this step went wrong". For each monitored layer l
(`monitor_layers`, default: the last layer), x_i = LayerNorm(h_i^l) is the output hidden state of layer l at
position i, normalized without affine weights (the scale of a decoder's residual stream varies by orders of
magnitude between layers and models). Per head h (d_h = d / H):

    window(i) = { j : i − W < j ≤ i, j not padding }                     (never a later position)
    a_l(i, j) = softmax_{j ∈ window(i)} (Q_l x_i)_h · (K_l x_j)_h / √d_h
    c_l(i)    = O_l [ Σ_j a_l(i, j) (V_l x_j)_h ]_h                        (cross-attention to earlier states)
    z_i       = concat_l [ c_l(i), S_l x_i ]                               (what came before, what is now)
    s_i       = w_2 · GELU(W_1 z_i + b_1) + b_2,    anomaly score p_i = σ(s_i)

Q_l, K_l, V_l, S_l: Linear(hidden → d); O_l: Linear(d → d); W_1: 2d per monitored layer → d; w_2: d → 1; all with
bias. W = `monitor_window` (32), d = `monitor_dim` (64), H = `monitor_heads` (4); `monitor_threshold` (0.5) is the
score above which the monitored generation strategies intervene.

**Outputs:** the model output carries `anomaly_logits` s and `anomaly_scores` p, shape (batch, L). The branch reads
the hidden states through forward hooks and returns nothing to the main path, so logits, hidden states, the KV cache
and `generate()` are the stock model's bitwise, for any monitor weights.

**Decoding with a KV cache:** pass `monitor_memory` (the stacked states of the monitored layers at earlier positions,
returned as `monitor_memory` by a call that received one; start with `torch.empty(0)`) and the full 2D padding mask;
a cached call without it returns `None` scores rather than scores that could not see their window.

**Training:** a per-token binary cross-entropy on s against labels of the tokens known to be wrong, the base frozen
(or LoRA)."""


MONITOR = Design(
    name="monitor",
    summary="a side branch scoring every token for anomaly (cross-attention to a window of earlier states + MLP)",
    math=MATH,
    fields=MonitorFields,
    identity={},
    active={"monitor_layers": [0, 1], "monitor_window": 4, "monitor_heads": 2, "monitor_dim": 16},
    capabilities=Capabilities(conversion="exact", changes_main_path=False),
    side_branch=ParentMonitor,
    tasks=("arithmetic",),
    # It watches a model generate: decoders only.
    runs_on=lambda backbone: "AutoModelForCausalLM" in backbone.stock_classes,
)
