"""Attention transfer: the conversion of the pure resonant variant (no setting of it is the stock model).

Each layer's resonance term (projection and lambda) is fitted to the stock layer's attention maps: with x the stock
layer's attention input and A its attention probabilities (the stock model run in eager mode, so A is exact),

    loss = Σ_layers mean over heads and real query tokens i of KL(A_i ‖ softmax_j(lambda_h · Res_h(i, j) / T + mask)).

The mask is read off the stock map itself (a key the stock model may not see has probability exactly 0 there), so
causality, padding and sliding windows need no code here. Layers are fitted side by side on the stock inputs (teacher
forcing); the whole model's drift is what the converter's verification then reports. Training text: WordNet
definitions when the source has a tokenizer (train split; the KL is also reported on the validation split), random
token ids otherwise. Budget: `resonant_transfer_steps` full-batch Adam steps.

Conversion code only: nothing that travels with a checkpoint imports this module.
"""

import time

import torch
import transformers
from torch.nn import functional as F

from ...checkpoints import tokenizer_or_none
from ...core.attention import DesignAttention
from ...core.model import design_parameter_names


TRAIN_TEXTS, HELD_OUT_TEXTS = 32, 16
LEARNING_RATE = 1e-2
LAMBDA_LEARNING_RATE = 1e-1  # lambda sets the sharpness of the maps: it has far to go from its start


def _batch(tokenizer, vocab_size: int, split: str, count: int, seed: int) -> dict[str, torch.Tensor]:
    if tokenizer is not None:
        from ...data.wordnet import wordnet_texts

        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        texts = wordnet_texts(split, limit=count)
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        return {k: encoded[k] for k in ("input_ids", "attention_mask")}
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, vocab_size, (count // 2, 16), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


@torch.no_grad()
def stock_attention(source, attention_class: type, batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer of `source` (a stock model in eager mode): its attention input x (batch, L, hidden) and its attention
    probabilities (batch, heads, L, L)."""
    inputs = []

    def keep_input(module, args, kwargs):
        inputs.append(kwargs["hidden_states"] if "hidden_states" in kwargs else args[0])

    layers = [module for module in source.modules() if type(module) is attention_class]
    hooks = [layer.register_forward_pre_hook(keep_input, with_kwargs=True) for layer in layers]
    try:
        attentions = source(**batch, output_attentions=True).attentions
    finally:
        for hook in hooks:
            hook.remove()
    return list(zip(inputs, attentions, strict=True))


def transfer_loss(terms, stock, query_mask: torch.Tensor) -> torch.Tensor:
    """Σ over layers of the mean KL(stock map ‖ resonant map) over heads and real query tokens."""
    total = 0.0
    rows = query_mask[:, None, :].float()  # (batch, 1, L)
    for term, (x, target) in zip(terms, stock):
        features = term.features(x)
        logits = term.bias(features, features, torch.float32)
        logits = logits.masked_fill(target == 0, torch.finfo(logits.dtype).min)
        kl = (torch.xlogy(target, target) - target * F.log_softmax(logits, dim=-1)).sum(-1)  # (batch, heads, L)
        total = total + (kl * rows).sum() / (rows.sum() * target.shape[1])
    return total


def attention_transfer(model, source_dir, report) -> None:
    """`ConversionPlan.initialize` of the pure variant: fit every resonance term to the stock attention maps."""
    start = time.perf_counter()
    config = model.config
    source = transformers.AutoModel.from_pretrained(source_dir, attn_implementation="eager", dtype=torch.float32)
    source.eval()
    tokenizer = tokenizer_or_none(source_dir)
    layers = [module for module in model.modules() if isinstance(module, DesignAttention)]
    # The terms in layer order, and the stock layers they are fitted to.
    chosen = [i for i, layer in enumerate(layers) if layer.logit_terms()]
    terms = [layers[i].logit_terms()[0] for i in chosen]
    batches = {
        "train": _batch(tokenizer, config.vocab_size, "train", TRAIN_TEXTS, seed=1),
        "held_out": _batch(tokenizer, config.vocab_size, "validation", HELD_OUT_TEXTS, seed=2),
    }
    attention_class = config.backbone.attention_class
    stock = {}
    for name, batch in batches.items():
        per_layer = stock_attention(source, attention_class, batch)
        stock[name] = [per_layer[i] for i in chosen]
    del source

    dtype = next(model.parameters()).dtype
    model.float()
    lambdas = [term.weight for term in terms]
    others = [p for term in terms for n, p in term.named_parameters() if n != "weight"]
    optimizer = torch.optim.Adam(
        [{"params": others, "lr": LEARNING_RATE}, {"params": lambdas, "lr": LAMBDA_LEARNING_RATE}]
    )

    def loss_of(name):
        return transfer_loss(terms, stock[name], batches[name]["attention_mask"].bool())

    with torch.no_grad():
        before = {name: loss_of(name).item() / len(terms) for name in batches}
    for _ in range(config.resonant_transfer_steps):
        optimizer.zero_grad()
        loss_of("train").backward()
        optimizer.step()
    with torch.no_grad():
        after = {name: loss_of(name).item() / len(terms) for name in batches}
    model.to(dtype)
    for parameter in model.parameters():
        parameter.grad = None
    report.initialization["attention_transfer"] = {
        "method": "attention transfer (KL from the stock attention maps, per layer, teacher-forced)",
        "data": "WordNet definitions" if tokenizer is not None else "random token ids",
        "steps": config.resonant_transfer_steps,
        "trained_parameters": len(design_parameter_names(model)),
        "kl_per_layer_before": before,
        "kl_per_layer_after": after,
        "seconds": round(time.perf_counter() - start, 2),
    }
