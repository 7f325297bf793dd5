"""Embedding task: contrastive definition -> word training and retrieval evaluation on WordNet."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .lora import DesignParameterTrainer


# sentence-transformers modules this task reproduces; anything else (e.g. Dense) would change the embedding.
_SUPPORTED_ST_MODULES = ("Transformer", "Pooling", "Normalize")
_POOLING_MODES = ("cls", "mean", "max")
_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
}


@dataclass(frozen=True)
class Pooling:
    """How token states become one embedding, as declared by a sentence-transformers folder."""

    mode: str = "mean"
    normalize: bool = False

    def __post_init__(self):
        if self.mode not in _POOLING_MODES:
            raise ValueError(f"Unsupported pooling mode {self.mode!r}; expected one of {_POOLING_MODES}.")

    @classmethod
    def from_model_dir(cls, model_path: str | Path) -> Pooling:
        """Read `modules.json` and the pooling config of a sentence-transformers folder; mean pooling otherwise."""
        modules_file = Path(model_path) / "modules.json"
        if not modules_file.is_file():
            return cls()
        modules = json.loads(modules_file.read_text())
        kinds = {m["type"].rsplit(".", 1)[-1]: m.get("path", "") for m in modules}
        unsupported = sorted(set(kinds) - set(_SUPPORTED_ST_MODULES))
        if unsupported:
            raise ValueError(f"sentence-transformers modules {unsupported} in {model_path} are not supported.")
        mode = "mean"
        if "Pooling" in kinds:
            mode = _pooling_mode(json.loads((Path(model_path) / kinds["Pooling"] / "config.json").read_text()))
        return cls(mode=mode, normalize="Normalize" in kinds)

    def __call__(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
        if self.mode == "cls":
            pooled = hidden_states[:, 0]
        elif self.mode == "mean":
            pooled = (hidden_states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        else:
            pooled = hidden_states.masked_fill(mask == 0, torch.finfo(hidden_states.dtype).min).max(1).values
        return F.normalize(pooled, dim=-1) if self.normalize else pooled


def _pooling_mode(config: dict) -> str:
    # Newer sentence-transformers write `pooling_mode`; older ones one boolean flag per mode.
    if "pooling_mode" in config:
        return config["pooling_mode"]
    enabled = [key for key, value in config.items() if key.startswith("pooling_mode_") and value is True]
    if len(enabled) != 1 or enabled[0] not in _POOLING_FLAGS:
        raise ValueError(f"Only a single cls, mean or max pooling is supported, got pooling config {config}.")
    return _POOLING_FLAGS[enabled[0]]


def embed(model: nn.Module, inputs: dict[str, torch.Tensor], pooling: Pooling) -> torch.Tensor:
    """Unit-norm embeddings of a tokenized batch (cosine similarity is then a dot product)."""
    outputs = model(**inputs)
    hidden = outputs.last_hidden_state if hasattr(outputs, "last_hidden_state") else outputs[0]
    return F.normalize(pooling(hidden, inputs["attention_mask"]), dim=-1)


@dataclass
class DefinitionWordCollator:
    """Tokenizes (definition, word) pairs of WordNet entries into an anchor and a positive batch."""

    tokenizer: PreTrainedTokenizerBase
    max_length: int = 64

    def _tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    def __call__(self, features: list[dict]) -> dict[str, dict[str, torch.Tensor]]:
        return {
            "anchor": self._tokenize([f["definition"] for f in features]),
            "positive": self._tokenize([f["word"] for f in features]),
        }


class ContrastiveTrainer(DesignParameterTrainer):
    """Trainer with a symmetric InfoNCE loss over in-batch negatives (definition <-> word)."""

    # The loss is a per-batch mean, so Trainer must still divide it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, pooling: Pooling, temperature: float = 0.05, **kwargs):
        super().__init__(*args, **kwargs)
        self.pooling = pooling
        self.temperature = temperature

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        anchor = embed(model, inputs["anchor"], self.pooling)
        positive = embed(model, inputs["positive"], self.pooling)
        logits = anchor @ positive.T / self.temperature
        labels = torch.arange(logits.size(0), device=logits.device)
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        return (loss, {"logits": logits}) if return_outputs else loss


@torch.no_grad()
def encode(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    pooling: Pooling,
    batch_size: int = 128,
    max_length: int = 64,
    desc: str = "encode",
) -> torch.Tensor:
    """Unit-norm embeddings of `texts`, in order."""
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, leave=False):
        batch = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        chunks.append(embed(model, dict(batch), pooling).float().cpu())
    return torch.cat(chunks)


def ranks_of_targets(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based rank of each row's target among its candidates, (queries, candidates) scores -> (queries,).

    A candidate scoring the same as the target ranks before it: a model whose embeddings collapse to one vector then
    ranks every target last, not first (counting ties in the target's favour rewarded exactly that collapse).
    """
    target_scores = scores.gather(-1, targets[..., None])
    return (scores >= target_scores).sum(dim=-1)


@torch.no_grad()
def retrieval_ranks(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    entries: Dataset,
    pooling: Pooling,
    batch_size: int = 128,
    max_length: int = 64,
) -> torch.Tensor:
    """Definition -> word retrieval, per definition: the 1-based rank by cosine of its right word among every distinct
    word of `entries` (a tie with the right word counts against it)."""
    words = sorted(set(entries["word"]))
    word_index = {word: i for i, word in enumerate(words)}
    queries = encode(model, tokenizer, entries["definition"], pooling, batch_size, max_length, "encode definitions")
    candidates = encode(model, tokenizer, words, pooling, batch_size, max_length, "encode words")
    targets = torch.tensor([word_index[word] for word in entries["word"]])
    return ranks_of_targets(queries @ candidates.T, targets)


def evaluate_retrieval(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    entries: Dataset,
    pooling: Pooling,
    batch_size: int = 128,
    max_length: int = 64,
) -> dict[str, float]:
    """MRR, recall@1 and recall@10 of `retrieval_ranks`."""
    ranks = retrieval_ranks(model, tokenizer, entries, pooling, batch_size, max_length)
    return {
        "mrr": (1.0 / ranks).mean().item(),
        "recall@1": (ranks <= 1).float().mean().item(),
        "recall@10": (ranks <= 10).float().mean().item(),
    }


def save_sentence_transformer(
    model_dir: str | Path, output_dir: str | Path, pooling: Pooling | None = None, max_seq_length: int = 64
) -> Path:
    """Make a sentence-transformers folder of a saved Transformers model: its files (weights, config, tokenizer and,
    for zoo model types, the code that `trust_remote_code=True` loads) plus a Transformer -> Pooling (-> Normalize)
    pipeline, so that `SentenceTransformer(folder)` embeds texts as `encode` does with `pooling` (default: the
    folder's own, mean pooling when it declares none). `embed` always normalizes, so the folder does too.
    `max_seq_length` is the truncation length (that of `encode`)."""
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    pooling = pooling or Pooling.from_model_dir(model_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.is_file():
            shutil.copy2(item, output_dir / item.name)
    config = json.loads((model_dir / "config.json").read_text())
    hidden = config.get("hidden_size") or config.get("text_config", {}).get("hidden_size")
    pooling_config = {"word_embedding_dimension": hidden}
    pooling_config |= {flag: mode == pooling.mode for flag, mode in _POOLING_FLAGS.items()}
    (output_dir / "1_Pooling").mkdir(exist_ok=True)
    (output_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config, indent=2) + "\n")
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (output_dir / "2_Normalize").mkdir(exist_ok=True)
    (output_dir / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (output_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2) + "\n"
    )
    return output_dir
