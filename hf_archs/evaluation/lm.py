"""Text streams and windows for length extrapolation (the per-item losses: `training.language_modeling`)."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase


def token_stream(tokenizer: PreTrainedTokenizerBase, texts: list[str], num_tokens: int) -> list[int]:
    """The first `num_tokens` token ids of `texts` concatenated (separated by the eos/sep token when there is one)."""
    separator = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    ids: list[int] = []
    for start in range(0, len(texts), 256):
        for row in tokenizer(texts[start : start + 256], add_special_tokens=False)["input_ids"]:
            ids.extend(row)
            if separator is not None:
                ids.append(separator)
        if len(ids) >= num_tokens:
            return ids[:num_tokens]
    if len(ids) < num_tokens:
        raise ValueError(f"The texts hold {len(ids)} tokens, fewer than the {num_tokens} asked for.")
    return ids


def chunked_texts(texts: list[str], tokenizer: PreTrainedTokenizerBase, length: int, count: int) -> list[str]:
    """`count` training texts of about `length` tokens each, made by joining consecutive corpus entries (training
    at sequence length L on concatenated text; `finetune_lora(max_length=L)` cuts them to L tokens)."""
    chunks, current, current_len = [], [], 0
    for text in texts:
        current.append(text)
        current_len += len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1
        if current_len >= length:
            chunks.append(" ".join(current))
            current, current_len = [], 0
            if len(chunks) == count:
                return chunks
    if not chunks:
        raise ValueError(f"The texts are too short for one chunk of {length} tokens.")
    return chunks


def window_batches(ids: list[int], length: int, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Non-overlapping windows of `length` tokens of the stream, as causal-LM batches (every position scored)."""
    windows = [ids[i : i + length] for i in range(0, len(ids) - length + 1, length)]
    batches = []
    for start in range(0, len(windows), batch_size):
        input_ids = torch.tensor(windows[start : start + batch_size])
        batches.append(
            {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": input_ids.clone()}
        )
    return batches
