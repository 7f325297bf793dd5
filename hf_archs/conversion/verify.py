"""Does a converted model compute its source's function? Compare outputs on padded batches."""

import torch


SAMPLE_TEXTS = [
    "The scientist discovered a new element in the periodic table.",
    "Einstein revolutionized physics with relativity.",
    "A short one.",
    "Attention is a weighted average of values, with weights from the similarity of queries and keys.",
]


def sample_batches(tokenizer, vocab_size: int, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Batches of 4 with right and left padding (from real text when a tokenizer is given)."""
    batches = {}
    for side in ("right", "left"):
        if tokenizer is not None:
            tokenizer.padding_side = side
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
            encoded = tokenizer(SAMPLE_TEXTS, padding=True, return_tensors="pt")
            batches[f"{side}_padding"] = {k: encoded[k] for k in ("input_ids", "attention_mask")}
            continue
        generator = torch.Generator().manual_seed(seed)
        lengths = [13, 9, 4, 11]
        input_ids = torch.randint(3, vocab_size, (len(lengths), max(lengths)), generator=generator)
        attention_mask = torch.zeros_like(input_ids)
        for row, length in enumerate(lengths):
            if side == "right":
                attention_mask[row, :length] = 1
            else:
                attention_mask[row, -length:] = 1
        batches[f"{side}_padding"] = {"input_ids": input_ids, "attention_mask": attention_mask}
    return batches


def main_output(outputs) -> torch.Tensor:
    """The tensor that defines a model's function: logits for heads, the last hidden state for base models."""
    logits = getattr(outputs, "logits", None)
    return logits if logits is not None else outputs.last_hidden_state


@torch.no_grad()
def max_abs_difference(reference, candidate, batch: dict[str, torch.Tensor]) -> float:
    """max |reference - candidate| over the non-padding positions of `batch`."""
    valid = batch["attention_mask"].bool()
    expected = main_output(reference(**batch))
    actual = main_output(candidate(**batch))
    if expected.dim() == 3:  # per-token outputs: padding positions carry no meaning
        expected, actual = expected[valid], actual[valid]
    return (expected.float() - actual.float()).abs().max().item()


def compare_models(reference, candidate, batches) -> dict[str, float]:
    reference.eval()
    candidate.eval()
    return {name: max_abs_difference(reference, candidate, batch) for name, batch in batches.items()}
