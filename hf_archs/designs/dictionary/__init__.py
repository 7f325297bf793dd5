"""Dictionary context: the feed-forward block of chosen layers gets a second input, a per-token dictionary entry.

    FFN_l(x_i)  ->  FFN_l(x_i + W_l · D[t_i])

t_i is token i's id, D (vocab × r) a frozen table holding for each token a representation of its dictionary entry,
and W_l (hidden × r) a learned projection per chosen layer, zero at conversion, which is exactly the stock model.
Because the FFN's first layer A is linear, A·(x + W·e) = A·x + (A·W)·e: the same as concatenating [x ; e] into the FFN
with the new columns A·W (the columns a zero W leaves at zero), so the FFN's non-linearity combines both inputs. W
gets gradient at the identity already (dL/dW = Σ_i (dL/dx̃_i) · D[t_i]ᵀ).

x is the FFN input: after `post_attention_layernorm` on Llama, after `pre_feedforward_layernorm` on Gemma 3, the
attention block's output on BERT (the input of `BertIntermediate`; BERT's residual around the FFN is unchanged).

The table: `table.py` builds D from the bundled WordNet corpus by a sentence encoder (all-MiniLM-L6-v2, r = 384):
for each token of the model's tokenizer that is a WordNet lemma (tokenized to that one token) or, failing that, the
first token of lemmas, D[t] is the normalized mean of the embeddings of those lemmas' "lemma: definition" texts;
tokens with no entry are zero. The table is a buffer saved with the model (vocab × r floats: 47 MB for BERT's
30k × 384 in float32) and frozen; `dictionary_table_source` records what built it ("random" is a seeded placeholder
used by tests, until a table is installed).

Cost: one row gather per token and one r × hidden matmul per chosen layer (no attention to dictionary entries, so
O(L)); parameters hidden × r per chosen layer, the table vocab × r (not trained).

The room: `design.py` (fields, the modules, the `Design`), `naive.py` (a loop reference for float64 checks),
`table.py` (building the table).
"""

from .design import DICTIONARY


__all__ = ["DICTIONARY"]
