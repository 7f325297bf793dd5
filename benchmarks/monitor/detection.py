"""Judging and training the monitor: AUROC, the threshold, precision/recall, and a linear-probe baseline.

The base model is frozen, so the monitored layers' hidden states of every chain are computed once
(`collect_states`) and the monitor (or the probe) is trained on them with a per-token binary cross-entropy. A step's
score is the highest score of its tokens.
"""

from dataclasses import dataclass

import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn import functional as F

from benchmarks.monitor.data import IGNORE, Chain, step_labels, token_labels
from hf_archs.core.side_branch import discard_side_call


def auroc(scores, labels) -> float:
    """Area under the ROC curve (`sklearn.metrics.roc_auc_score`: ties count one half); NaN without both classes,
    where scikit-learn raises, so a split with one class shows as missing rather than stopping the report."""
    scores = torch.as_tensor(scores, dtype=torch.float64).flatten()
    labels = torch.as_tensor(labels).flatten().bool()
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels.numpy(), scores.numpy()))


def precision_recall(scores, labels, threshold: float) -> dict[str, float]:
    scores = torch.as_tensor(scores, dtype=torch.float64).flatten()
    labels = torch.as_tensor(labels).flatten().bool()
    predicted = scores > threshold
    true_positives = float((predicted & labels).sum())
    precision = true_positives / max(float(predicted.sum()), 1.0)
    recall = true_positives / max(float(labels.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def choose_threshold(scores, labels) -> float:
    """The threshold of highest F1 on (validation) scores: midpoints between consecutive distinct scores."""
    values = torch.as_tensor(scores, dtype=torch.float64).flatten().unique()
    candidates = torch.cat([values[:1] - 1e-6, (values[1:] + values[:-1]) / 2]) if len(values) > 1 else values
    best = max(candidates.tolist(), key=lambda t: precision_recall(scores, labels, t)["f1"])
    return float(best)


@dataclass
class ChainStates:
    """One chain's monitored hidden states (M, L, hidden), token labels and step index per token, step labels."""

    states: torch.Tensor
    labels: torch.Tensor
    steps: torch.Tensor
    step_labels: list[int]


class _EnoughLayers(Exception):
    """Raised after the last layer needed: the layers above it cannot change the states read."""


@torch.no_grad()
def collect_states(model, tokenizer, chains: list[Chain], layers: list[int]) -> list[ChainStates]:
    """Run the frozen decoder over every chain and keep the outputs of `layers` (one chain at a time: no padding).
    The forward stops after the last of `layers` (the layers above it are not needed)."""
    captured = {}
    base = model.base_model
    layer_list = base.get_submodule(base.config.backbone.layers)

    def keep(i):
        def hook(module, args, output):
            captured[i] = output
            if i == max(layers):
                raise _EnoughLayers

        return hook

    hooks = [layer_list[i].register_forward_hook(keep(i)) for i in layers]
    device = next(model.parameters()).device
    out = []
    try:
        for chain in chains:
            encoded = tokenizer(chain.text, return_offsets_mapping=True, return_tensors="pt")
            offsets = [tuple(o) for o in encoded.pop("offset_mapping")[0].tolist()]
            try:
                base(input_ids=encoded["input_ids"].to(device), use_cache=False)
            except _EnoughLayers:
                discard_side_call(base)  # the side branch's per-call scratch of the stopped call
            labels, steps = token_labels(chain, offsets)
            states = torch.stack([captured[i][0].float().cpu() for i in layers])
            out.append(ChainStates(states, torch.tensor(labels), torch.tensor(steps), step_labels(chain)))
    finally:
        for hook in hooks:
            hook.remove()
    return out


def _batches(data: list[ChainStates], batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(len(data), generator=generator).tolist() if generator is not None else range(len(data))
    order = list(order)
    for start in range(0, len(order), batch_size):
        items = [data[i] for i in order[start : start + batch_size]]
        length = max(item.states.shape[1] for item in items)
        states = torch.zeros(items[0].states.shape[0], len(items), length, items[0].states.shape[2])
        labels = torch.full((len(items), length), IGNORE)
        mask = torch.zeros(len(items), length, dtype=torch.long)
        for b, item in enumerate(items):  # right padding: the monitor is causal, padding never reaches a real token
            n = item.states.shape[1]
            states[:, b, :n], labels[b, :n], mask[b, :n] = item.states, item.labels, 1
        yield items, states, labels, mask


class LinearProbe(nn.Module):
    """Baseline: logistic regression on one layer's (affine-free layer-normalized) hidden state, per token."""

    def __init__(self, hidden_size: int, layer_position: int = -1):
        super().__init__()
        self.layer_position = layer_position
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = states[self.layer_position]
        return self.linear(F.layer_norm(x, x.shape[-1:])).squeeze(-1)


def monitor_scorer(monitor):
    """The monitor as a scorer of stacked states (M, batch, L, hidden): its anomaly logits."""

    def score(states, mask):
        hidden = {layer: states[m] for m, layer in enumerate(monitor.layers_read)}
        return monitor(hidden, mask, None)["anomaly_logits"]

    return score


def train_scorer(
    module: nn.Module, scorer, data: list[ChainStates], *, epochs: int, lr: float, batch_size: int = 16, seed: int = 0
) -> list[float]:
    """Per-token BCE (positives weighted by the negative/positive ratio) with AdamW; returns the epoch losses."""
    labels = torch.cat([item.labels for item in data])
    positives = float((labels == 1).sum())
    pos_weight = torch.tensor(float((labels == 0).sum()) / max(positives, 1.0))
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    module.train()
    losses = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for _, states, batch_labels, mask in _batches(data, batch_size, generator):
            logits = scorer(states, mask)
            used = batch_labels != IGNORE
            loss = F.binary_cross_entropy_with_logits(logits[used], batch_labels[used].float(), pos_weight=pos_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss), count + 1
        losses.append(total / max(count, 1))
    module.eval()
    return losses


@torch.no_grad()
def score_chains(scorer, data: list[ChainStates], batch_size: int = 32) -> list[torch.Tensor]:
    """Per chain, the score (sigmoid of the logit) of every token."""
    out = []
    for items, states, _, mask in _batches(data, batch_size, None):
        scores = torch.sigmoid(scorer(states, mask))
        out.extend(scores[b, : item.states.shape[1]] for b, item in enumerate(items))
    return out


def token_and_step_scores(data: list[ChainStates], scores: list[torch.Tensor]):
    """(token scores, token labels, step scores, step labels) over the labelled tokens and steps."""
    token_s, token_l, step_s, step_l = [], [], [], []
    for item, chain_scores in zip(data, scores, strict=True):
        used = item.labels != IGNORE
        token_s.append(chain_scores[used])
        token_l.append(item.labels[used])
        for k, label in enumerate(item.step_labels):
            in_step = (item.steps == k) & (item.labels != IGNORE)
            if label != IGNORE and in_step.any():
                step_s.append(float(chain_scores[in_step].max()))
                step_l.append(label)
    return torch.cat(token_s), torch.cat(token_l), torch.tensor(step_s), torch.tensor(step_l)


def detection_report(scorer, validation: list[ChainStates], test: list[ChainStates]) -> dict[str, float]:
    """Token- and step-level AUROC on `test`, and precision/recall at thresholds chosen (max F1) on `validation`."""
    val_t, val_tl, val_s, val_sl = token_and_step_scores(validation, score_chains(scorer, validation))
    t, tl, s, sl = token_and_step_scores(test, score_chains(scorer, test))
    token_threshold, step_threshold = choose_threshold(val_t, val_tl), choose_threshold(val_s, val_sl)
    token_pr = precision_recall(t, tl, token_threshold)
    step_pr = precision_recall(s, sl, step_threshold)
    return {
        "token_auroc": auroc(t, tl),
        "step_auroc": auroc(s, sl),
        "token_threshold": token_threshold,
        "token_precision": token_pr["precision"],
        "token_recall": token_pr["recall"],
        "step_threshold": step_threshold,
        "step_precision": step_pr["precision"],
        "step_recall": step_pr["recall"],
        "step_f1": step_pr["f1"],
    }
