"""Reference dictionary feed-forward input, written for clarity rather than speed (one token at a time).

FFN(x_i)  ->  FFN(x_i + W · D[t_i])
"""

import torch


def dictionary_ffn_naive(feed_forward, x: torch.Tensor, token_ids: torch.Tensor, table: torch.Tensor, weight):
    """feed_forward: the stock FFN module; x (batch, L, hidden) its input; token_ids (batch, L); table (vocab, r);
    weight (hidden, r). Returns the FFN output (batch, L, out), token by token."""
    rows = []
    for b in range(x.shape[0]):
        outputs = []
        for i in range(x.shape[1]):
            entry = table[token_ids[b, i]]
            outputs.append(feed_forward((x[b, i] + weight @ entry)[None, None])[0, 0])
        rows.append(torch.stack(outputs))
    return torch.stack(rows)
