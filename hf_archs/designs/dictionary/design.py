"""The dictionary design, declared once: config fields, identity/active settings, its feed-forward input."""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init

from ...core.design import Capabilities, Design, DesignFields, check_layer_indices, layers_in_field
from ...core.feed_forward import FeedForwardInput, TokenTable


@dataclass(kw_only=True)
class DictionaryFields(DesignFields):
    """Config fields of the dictionary context.

    dictionary_size: r, the width of a dictionary entry (384 for a table built by all-MiniLM-L6-v2).
    dictionary_init_std: the standard deviation W_l starts from; 0.0 (W = 0) is the identity setting.
    dictionary_layers: indices of the layers whose FFN gets the dictionary input; None means every layer.
    dictionary_table_source: what built the table: "random" (a seeded placeholder) or the recipe that filled it.
    """

    dictionary_size: int = 384
    dictionary_init_std: float = 0.0
    dictionary_layers: list[int] | None = None
    dictionary_table_source: str = "random"

    def validate_design_fields(self):
        if self.dictionary_size < 1:
            raise ValueError("dictionary_size must be ≥ 1.")
        if not 0 <= self.dictionary_init_std < float("inf"):
            raise ValueError("dictionary_init_std must be finite and ≥ 0.")
        check_layer_indices("dictionary_layers", self.dictionary_layers, self.num_hidden_layers)


class DictionaryTable(TokenTable):
    """D (vocab × r): a frozen buffer, saved with the model; ids past its rows (added tokens) have no entry.

    Until a built table is loaded or installed (`table.install_table`), it is a function of the config: a seeded
    placeholder (unit-norm rows) for `dictionary_table_source="random"`, else zeros (no token has an entry yet).
    `__init__` and weight initialization both compute it, as Transformers does for its rotary `inv_freq` buffers: a
    model built on the meta device and then initialized gets the same table as one built directly.
    """

    attribute_name = "dictionary_table"

    def __init__(self, config):
        super().__init__()
        self.register_buffer("table", torch.zeros(config.vocab_size, config.dictionary_size))
        if not self.table.is_meta:
            with torch.no_grad():
                self.table.copy_(self.initial_table(config))

    def initial_table(self, config) -> torch.Tensor:
        """The table before a built one is loaded or installed (on the CPU)."""
        if config.dictionary_table_source != "random":
            return torch.zeros(self.table.shape)
        rows = torch.randn(self.table.shape, generator=torch.Generator().manual_seed(0))
        return rows / rows.norm(dim=-1, keepdim=True)

    def forward(self, input_ids):
        known = input_ids < self.table.shape[0]
        entries = self.table[input_ids.clamp(max=self.table.shape[0] - 1)]
        return entries * known[..., None].to(entries.dtype)

    def init_design_weights(self, config):
        # `init.copy_` leaves a loaded table alone (Transformers marks loaded tensors as initialized).
        init.copy_(self.table, self.initial_table(config))

    def extra_repr(self) -> str:
        return f"vocab={self.table.shape[0]}, size={self.table.shape[1]}"


class DictionaryInput(FeedForwardInput):
    """W_l · D[t]: the projection of the tokens' dictionary entries added to one layer's FFN input. Attached inside
    the FFN module as `dictionary`, so PEFT trains and saves it with an adapter (`modules_to_save=["dictionary"]`)."""

    attribute_name = "dictionary"
    token_table = DictionaryTable

    def __init__(self, config):
        super().__init__()
        # A bare parameter, not an nn.Linear: the stock `_init_weights` would initialize a Linear first, and the
        # design's own (zero) initialization must be the one that holds.
        self.weight = nn.Parameter(torch.zeros(config.hidden_size, config.dictionary_size))

    def forward(self, ffn_input, token_features):
        return torch.matmul(token_features, self.weight.transpose(0, 1))

    def init_design_weights(self, config):
        std = config.dictionary_init_std
        if std == 0:
            init.zeros_(self.weight)
        else:
            init.normal_(self.weight, std=std)


MATH = """\
In each chosen layer l (`dictionary_layers`, default: every layer) the feed-forward block gets a second input:

    FFN_l(x_i)  ->  FFN_l(x_i + W_l · D[t_i])

x is the FFN's input (after its norm on a pre-norm decoder: Llama's `post_attention_layernorm`, Gemma 3's
`pre_feedforward_layernorm`; the attention block's output on BERT, whose residual around the FFN is unchanged), t_i
token i's id, D (vocab × r, r = `dictionary_size`) a frozen table holding a representation of each token's dictionary
entry, and W_l (hidden × r, `dictionary.weight`) a learned projection per chosen layer. As the FFN's first layer A is
linear, A·(x + W·e) = A·x + (A·W)·e: the same as feeding [x ; e] to the FFN with the new columns A·W, so the FFN's
non-linearity combines both inputs. No attention to dictionary entries: O(L).

**The table:** for each token of the model's tokenizer that is a WordNet lemma (tokenized to that one token) or,
failing that, the first token of lemmas, D[t] is the unit-normalized mean of the sentence embeddings
(all-MiniLM-L6-v2, r = 384) of those lemmas' "lemma: definition" texts; tokens with no entry, and ids past the
table's rows, get zero. D is a buffer saved with the model (vocab × r floats: 47 MB for BERT's 30522 × 384 in
float32), frozen and not in LoRA adapters; `dictionary_table_source` records what built it (`"random"`: a seeded
placeholder of unit rows, until a table is installed with `table.install_table`).

**Identity setting:** W = 0 (`dictionary_init_std=0`) is exactly the stock model, and W gets gradient there already:
∂L/∂W_l = Σ_i (∂L/∂x̃_i) · D[t_i]ᵀ with x̃_i = x_i + W_l · D[t_i]."""


DICTIONARY = Design(
    name="dictionary",
    summary="FFN input + W_l * D[token]: a frozen per-token dictionary entry (WordNet glosses by MiniLM)",
    math=MATH,
    fields=DictionaryFields,
    identity={"dictionary_init_std": 0.0},
    active={"dictionary_init_std": 0.1},
    capabilities=Capabilities(conversion="exact", cached_generation=True),
    chosen_layers=layers_in_field("dictionary_layers"),
    feed_forward_input=DictionaryInput,
    tasks=("retrieval", "mlm", "perplexity"),
)
