"""Masked and causal language modelling on WordNet texts: data, and the held-out loss per item."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from . import distributed
from .lora import DesignParameterTrainer


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


ScoredLogits = Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def scored_logits(model: nn.Module, batch: dict[str, torch.Tensor], causal: bool):
    """(logits, labels, rows) of the scored tokens of a batch: the model's full output, where `labels` != -100.
    Causal LMs predict token t+1 from position t: the first label of each row is never scored."""
    labels = batch["labels"]
    logits = model(**{key: value for key, value in batch.items() if key != "labels"}).logits
    if causal:
        logits, labels = logits[:, :-1], labels[:, 1:]
    rows, positions = (labels != -100).nonzero(as_tuple=True)
    return logits[rows, positions], labels[rows, positions], rows


@torch.no_grad()
def per_item_loss(
    model: nn.Module,
    batches: list[dict[str, torch.Tensor]],
    causal: bool,
    desc: str = "eval loss",
    *,
    scored: ScoredLogits | None = None,
    shard: bool = False,
) -> tuple[list[float], list[float]]:
    """(mean token loss, scored-token count) of every row of `batches`, in order: the one held-out LM evaluation.

    `scored` gives a batch's scored logits (default `scored_logits`; MNTP computes the head only where it is
    scored). With `shard`, every process must call it: each evaluates its share of the batches and all get every
    row (`distributed.evaluate_in_shards`); without it the calling process evaluates them all.
    """
    model.eval()
    device = next(model.parameters()).device
    scored = scored or (lambda model, batch: scored_logits(model, batch, causal))

    def evaluate(share: list[dict[str, torch.Tensor]]) -> list[tuple[list[float], list[float]]]:
        results = []
        for batch in tqdm(share, desc=desc, leave=False):
            batch = {key: value.to(device) for key, value in batch.items()}
            logits, labels, rows = scored(model, batch)
            token_loss = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
            size = len(batch["labels"])
            count = torch.bincount(rows, minlength=size).float()
            total = torch.zeros(size, device=device).index_add_(0, rows, token_loss)
            results.append(((total / count.clamp(min=1)).tolist(), count.tolist()))
        return results

    per_batch = distributed.evaluate_in_shards(batches, evaluate) if shard else evaluate(batches)
    return [loss for losses, _ in per_batch for loss in losses], [n for _, counts in per_batch for n in counts]


def mean_loss(losses: list[float], counts: list[float]) -> dict[str, float]:
    """The token-weighted mean of per-item losses, and its perplexity."""
    loss = sum(loss * count for loss, count in zip(losses, counts, strict=True)) / max(sum(counts), 1)
    return {"loss": loss, "perplexity": math.exp(loss)}


def evaluate_lm(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], causal: bool, shard: bool = False
) -> dict[str, float]:
    """Token-weighted mean loss over the held-out batches, and its perplexity."""
    return mean_loss(*per_item_loss(model, batches, causal, shard=shard))


# --- masked next-token prediction (MNTP) ---------------------------------------------------------------------------


def mntp_mask_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that replaces a masked token: the tokenizer's mask token, else its unknown token (decoders often have
    no mask token; LLM2Vec also falls back to an otherwise unused token)."""
    for token_id in (tokenizer.mask_token_id, tokenizer.unk_token_id):
        if token_id is not None:
            return token_id
    raise ValueError("Masked next-token prediction needs a tokenizer with a mask or an unknown token.")


class MNTPCollator:
    """Masked next-token prediction batches (LLM2Vec) for a model with a causal LM head.

    A fraction `probability` of the real, non-special tokens at positions i >= 1 is replaced by the mask token
    (`mntp_mask_token_id`); `labels[b, i]` is the original token where position i is masked and -100 elsewhere. The
    causal LM loss of Transformers scores `logits[b, i - 1]` against `labels[b, i]`, so the ORIGINAL token at i is
    predicted from the output at i - 1 and only masked positions count. Position 0 is never masked (nothing
    precedes it), nor is a token whose predecessor is padding. Every row with an eligible token gets at least one
    mask, so no batch has an empty loss.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, probability: float = 0.2, seed: int | None = None):
        if not 0 < probability < 1:
            raise ValueError(f"`probability` must be in (0, 1), got {probability}.")
        if tokenizer.pad_token is None:
            raise ValueError("MNTP batches are padded: call `prepare_tokenizer` first.")
        self.tokenizer, self.probability = tokenizer, probability
        self.mask_token_id = mntp_mask_token_id(tokenizer)
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer.pad(
            [{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]} for f in features],
            return_tensors="pt",
        )
        input_ids, attention_mask = batch["input_ids"], batch["attention_mask"].bool()
        special = torch.tensor(
            [
                self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                for row in input_ids.tolist()
            ],
            dtype=torch.bool,
        )
        # eligible[b, i]: a real, non-special token whose predecessor i - 1 is a real token too.
        eligible = attention_mask & ~special
        eligible[:, 0] = False
        eligible[:, 1:] &= attention_mask[:, :-1]
        draws = torch.rand(input_ids.shape, generator=self.generator)
        masked = eligible & (draws < self.probability)
        # A row with eligible tokens but no draw below `probability` masks its eligible token with the lowest draw.
        empty = eligible.any(dim=1) & ~masked.any(dim=1)
        lowest = draws.masked_fill(~eligible, 2.0).argmin(dim=1)
        masked[empty, lowest[empty]] = True

        labels = torch.full_like(input_ids, -100)
        labels[masked] = input_ids[masked]
        batch["input_ids"] = input_ids.masked_fill(masked, self.mask_token_id)
        batch["labels"] = labels
        return dict(batch)


def _unwrap(model: nn.Module) -> nn.Module:
    """The Transformers model inside a PEFT wrapper (LoRA layers stay in place, inside its modules)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def mntp_scored_logits(model: nn.Module, batch: dict[str, torch.Tensor]):
    """(logits, labels, rows) of an MNTP batch's scored tokens, computing the LM head only where it is scored.

    The head's output at i - 1 is scored against `labels[:, i]` at the labelled positions. The full forward would
    project every position onto the vocabulary (Gemma 3: 262k entries, most of a step's cost) although only the
    ~20% before a masked token count. The final logit soft-cap of Gemma-family configs is applied as their forward
    applies it.
    """
    core = _unwrap(model)
    hidden = core.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    labels = batch["labels"][:, 1:]  # labels[:, i] for i >= 1, aligned with the output at i - 1
    rows, positions = (labels != -100).nonzero(as_tuple=True)
    logits = core.get_output_embeddings()(hidden[rows, positions])
    cap = getattr(core.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits, labels[rows, positions], rows


def masked_next_token_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The causal LM loss of an MNTP batch from `mntp_scored_logits`: equal to `model(**batch).loss` (tested)."""
    logits, labels, _ = mntp_scored_logits(model, batch)
    return nn.functional.cross_entropy(logits.float(), labels)


def evaluate_mntp(model: nn.Module, batches: list[dict[str, torch.Tensor]], shard: bool = False) -> dict[str, float]:
    """Masked-token-weighted mean MNTP loss over held-out batches, and its perplexity."""
    return mean_loss(*per_item_loss(model, batches, causal=True, scored=mntp_scored_logits, shard=shard))


class MNTPTrainer(DesignParameterTrainer):
    """Trainer with `masked_next_token_loss`. Under DDP the model's own forward (full LM head) is used: calling its
    submodules directly would bypass DDP's gradient synchronisation."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if isinstance(model, torch.nn.parallel.DistributedDataParallel) or self.is_fsdp_enabled:
            loss = model(**inputs).loss
        else:
            loss = masked_next_token_loss(model, inputs)
        return (loss, {}) if return_outputs else loss
