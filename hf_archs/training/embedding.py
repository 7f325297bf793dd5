"""Embedding task: contrastive definition -> word training and retrieval evaluation on WordNet."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import Dataset
from sentence_transformers.sentence_transformer import modules as st_modules
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .lora import DesignParameterTrainer


# sentence-transformers modules this task reproduces; anything else (e.g. Dense) would change the embedding.
_SUPPORTED_ST_MODULES = ("Transformer", "Pooling", "Normalize")
_POOLING_MODES = ("cls", "mean", "max")


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
        if "Pooling" in kinds:  # sentence-transformers reads both its `pooling_mode` and its older per-mode flags
            mode = st_modules.Pooling.load(str(Path(model_path) / kinds["Pooling"])).pooling_mode
        return cls(mode=mode, normalize="Normalize" in kinds)

    def modules(self, embedding_dimension: int) -> list[nn.Module]:
        """The sentence-transformers modules that pool (and normalize) token states as this does."""
        pooling = st_modules.Pooling(embedding_dimension, pooling_mode=self.mode)
        return [pooling, st_modules.Normalize()] if self.normalize else [pooling]

    def __call__(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        features = {"token_embeddings": hidden_states, "attention_mask": attention_mask}
        for module in self.modules(hidden_states.size(-1)):
            features = module(features)
        return features["sentence_embedding"]


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
    """Trainer with a symmetric InfoNCE loss over in-batch negatives (definition <-> word): sentence-transformers'
    MultipleNegativesRankingLoss in both directions, one softmax each, averaged, with scale 1 / `temperature`.

    Not a SentenceTransformerTrainer: that trains a SentenceTransformer built from a folder, while this trains the
    zoo model in memory (PEFT-wrapped, maybe FSDP-sharded) with DesignParameterTrainer's design learning rate.
    """

    # The loss is a per-batch mean, so Trainer must still divide it by the gradient accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, pooling: Pooling, temperature: float = 0.05, **kwargs):
        super().__init__(*args, **kwargs)
        self.pooling = pooling
        # No SentenceTransformer to hold: `compute_loss` embeds with `embed` and passes the loss the embeddings.
        self.contrastive_loss = MultipleNegativesRankingLoss(
            None, scale=1 / temperature, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        anchor = embed(model, inputs["anchor"], self.pooling)
        positive = embed(model, inputs["positive"], self.pooling)
        loss = self.contrastive_loss.compute_loss_from_embeddings([anchor, positive], labels=None)
        return (loss, {"logits": anchor @ positive.T * self.contrastive_loss.scale}) if return_outputs else loss


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
    """Unit-norm embeddings of `texts`, in order, as `embed` makes them in training. (`SentenceTransformer.encode`
    needs a SentenceTransformer loaded from a folder; this embeds the model in memory, PEFT-wrapped or not.)"""
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
    # Not InformationRetrievalEvaluator: it orders tied candidates by corpus id, so a tie can rank the target first.
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


def evaluate_retrieval(model, tokenizer, entries, pooling, **options) -> dict[str, float]:
    """MRR, recall@1 and recall@10 of `retrieval_ranks` (same arguments; options: batch_size, max_length)."""
    ranks = retrieval_ranks(model, tokenizer, entries, pooling, **options)
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
    pooling = replace(pooling or Pooling.from_model_dir(model_dir), normalize=True)
    # The model's files are copied, not re-saved by `SentenceTransformer.save`: its Transformer module would load the
    # weights and write back only what `save_pretrained` writes, dropping the folder's other files (conversion
    # report, card). sentence-transformers writes its modules' configs, and modules.json names them as `.save` does.
    output_dir.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.is_file():
            shutil.copy2(item, output_dir / item.name)
    config = json.loads((model_dir / "config.json").read_text())
    hidden = config.get("hidden_size") or config.get("text_config", {}).get("hidden_size")
    modules = [{"idx": 0, "name": "0", "path": "", "type": _class_ref(st_modules.Transformer)}]
    for idx, module in enumerate(pooling.modules(hidden), start=1):
        path = f"{idx}_{type(module).__name__}"
        (output_dir / path).mkdir(exist_ok=True)
        module.save(str(output_dir / path))
        modules.append({"idx": idx, "name": str(idx), "path": path, "type": _class_ref(type(module))})
    (output_dir / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (output_dir / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2) + "\n"
    )
    return output_dir


def _class_ref(module_class: type) -> str:
    return f"{module_class.__module__}.{module_class.__name__}"
