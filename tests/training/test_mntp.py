"""Masked next-token prediction (MNTP): which tokens are masked, what the labels are, and that the causal LM loss on
them predicts the original token at i from the output at i - 1, on masked positions only."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, Gemma3ForCausalLM

from hf_archs.data import wordnet_texts
from hf_archs.testing import tiny_gemma3_config
from hf_archs.training import finetune_lora
from hf_archs.training.language_modeling import (
    MNTPCollator,
    masked_next_token_loss,
    prepare_tokenizer,
    tokenize_texts,
)
from hf_archs.training.lora import apply_lora


def _batch(tokenizer, probability=0.3, seed=0, texts=None):
    texts = texts or wordnet_texts("train", limit=12)
    features = tokenize_texts(prepare_tokenizer(tokenizer, mlm=False), texts, max_length=32)
    original = tokenizer.pad(features, return_tensors="pt")["input_ids"]
    return MNTPCollator(tokenizer, probability, seed=seed)(features), original


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_mntp_masks_real_tokens_and_labels_them_with_the_original(tiny_llama_path, padding_side):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path, padding_side=padding_side)
    batch, original = _batch(tokenizer)
    masked = batch["labels"] != -100
    attention = batch["attention_mask"].bool()
    assert masked.any(dim=1).all(), "every row has at least one masked token"
    # Masked: the input carries the mask token, the label the original token. Elsewhere: input unchanged, no label.
    assert (batch["input_ids"][masked] == tokenizer.mask_token_id).all()
    assert torch.equal(batch["labels"][masked], original[masked])
    assert torch.equal(batch["input_ids"][~masked], original[~masked])
    # Never masked: position 0, padding, special tokens, a token right after padding.
    assert not masked[:, 0].any() and not (masked & ~attention).any()
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    assert not (masked & special).any()
    assert not (masked[:, 1:] & ~attention[:, :-1]).any()
    fraction = masked.sum() / (attention & ~special).sum()
    assert 0.15 < fraction < 0.45  # about the 0.3 asked for


def test_mntp_masks_are_seeded(tiny_llama_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path)
    first, second, other = _batch(tokenizer, seed=1)[0], _batch(tokenizer, seed=1)[0], _batch(tokenizer, seed=2)[0]
    assert torch.equal(first["labels"], second["labels"]) and not torch.equal(first["labels"], other["labels"])


def test_mntp_loss_predicts_the_original_token_at_i_from_the_output_at_i_minus_1(tiny_llama_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_path, dtype=torch.float64).eval()
    batch, original = _batch(tokenizer)
    with torch.no_grad():
        outputs = model(**batch)
    rows, positions = (batch["labels"] != -100).nonzero(as_tuple=True)
    log_probs = F.log_softmax(outputs.logits, dim=-1)
    # The reference, written out: the output one position before each masked token scores its original token.
    expected = -log_probs[rows, positions - 1, original[rows, positions]].mean()
    # (Transformers computes the loss in float32 from the float64 logits.)
    torch.testing.assert_close(outputs.loss.double(), expected, rtol=1e-6, atol=1e-6)
    # The same positions without the shift (or shifted the other way) give a different loss: the check can fail.
    unshifted = -log_probs[rows, positions, original[rows, positions]].mean()
    assert not torch.isclose(outputs.loss.double(), unshifted, rtol=1e-3)
    # The loss reads the labels of masked positions: changing one changes the loss.
    labels = batch["labels"].clone()
    labels[rows[0], positions[0]] = (labels[rows[0], positions[0]] + 1) % model.config.vocab_size
    with torch.no_grad():
        assert not torch.isclose(model(**{**batch, "labels": labels}).loss, outputs.loss)


@pytest.mark.parametrize("kind", ["llama", "gemma3_softcapped", "llama_lora"])
def test_the_fast_mntp_loss_equals_the_models_own_loss(tiny_llama_path, kind):
    # The fast loss projects only the scored positions onto the vocabulary; it must equal the full forward's loss
    # (with Gemma's final soft-cap, and through a PEFT LoRA wrapper with non-zero LoRA weights).
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path)
    torch.manual_seed(0)
    if kind == "gemma3_softcapped":
        config = tiny_gemma3_config(vocab_size=len(tokenizer), final_logit_softcapping=2.0)
        model = Gemma3ForCausalLM(config).double()
    else:
        model = AutoModelForCausalLM.from_pretrained(tiny_llama_path, dtype=torch.float64)
    if kind == "llama_lora":
        model = apply_lora(model, r=4, alpha=8, task_type="CAUSAL_LM")
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, std=0.5)
    model.eval()
    batch, _ = _batch(tokenizer)
    with torch.no_grad():
        full = model(**batch).loss
        fast = masked_next_token_loss(model, batch)
    torch.testing.assert_close(fast.double(), full.double(), rtol=1e-6, atol=1e-6)


def test_mntp_finetune_trains_and_lowers_the_masked_token_loss(tiny_llama_path, tmp_path):
    report = finetune_lora(
        str(tiny_llama_path),
        "mntp",
        str(tmp_path),
        max_steps=8,
        batch_size=8,
        learning_rate=5e-3,
        train_size=64,
        eval_size=16,
        max_length=32,
        mask_probability=0.2,
    )
    assert report.task == "mntp" and report.metric_names == ["loss", "perplexity"]
    assert report.after["loss"] < report.before["loss"]
    merged = AutoModelForCausalLM.from_pretrained(report.merged_dir)
    assert merged.config.vocab_size == len(AutoTokenizer.from_pretrained(tiny_llama_path))
