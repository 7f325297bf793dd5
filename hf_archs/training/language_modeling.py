"""Masked and causal language modelling on WordNet texts: data and held-out loss."""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, mlm: bool) -> PreTrainedTokenizerBase:
    """Check the tokenizer has the special tokens the objective needs (decoders often lack a pad token)."""
    if mlm and tokenizer.mask_token is None:
        raise ValueError("Masked language modelling needs a tokenizer with a mask token.")
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("The tokenizer has neither a pad nor an eos token to pad batches with.")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tokenize_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int = 128) -> list[dict]:
    """Token ids and attention masks only: decoders reject extras such as BERT's `token_type_ids`."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    return [
        {"input_ids": ids, "attention_mask": mask}
        for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
    ]


def lm_collator(tokenizer: PreTrainedTokenizerBase, mlm: bool, seed: int | None = None):
    return DataCollatorForLanguageModeling(tokenizer, mlm=mlm, mlm_probability=0.15, seed=seed)


def fixed_eval_batches(
    tokenizer: PreTrainedTokenizerBase, features: list[dict], mlm: bool, batch_size: int, seed: int
) -> list[dict[str, torch.Tensor]]:
    """Collate the held-out set once, so every evaluation sees the same batches and the same masked tokens."""
    collator = lm_collator(tokenizer, mlm, seed=seed)
    return [collator(features[i : i + batch_size]) for i in range(0, len(features), batch_size)]


@torch.no_grad()
def evaluate_lm(model: nn.Module, batches: list[dict[str, torch.Tensor]], causal: bool) -> dict[str, float]:
    """Token-weighted mean loss over the held-out batches, and its perplexity."""
    model.eval()
    device = next(model.parameters()).device
    total_loss, total_tokens = 0.0, 0
    for batch in tqdm(batches, desc="eval loss", leave=False):
        batch = {key: value.to(device) for key, value in batch.items()}
        loss = model(**batch).loss
        # Causal LMs predict token t+1 from position t: the first label of each row is never scored.
        labels = batch["labels"][:, 1:] if causal else batch["labels"]
        num_tokens = int((labels != -100).sum())
        total_loss += loss.item() * num_tokens
        total_tokens += num_tokens
    mean_loss = total_loss / max(total_tokens, 1)
    return {"loss": mean_loss, "perplexity": math.exp(mean_loss)}
