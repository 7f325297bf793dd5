"""Building the dictionary table D (vocab × r) from the bundled WordNet corpus with a sentence encoder.

For every token of the model's tokenizer: the WordNet entries whose lemma tokenizes to exactly that token (the token
*is* the lemma) or, for tokens that are no lemma, the entries whose lemma starts with that token (its first token,
with or without a leading space, as decoder tokenizers mark words inside a text). D[t] is the unit-normalized mean
of the encoder's embeddings of those entries' "lemma: definition" texts; tokens with no entry are zero.

Not imported by the model files (code that travels with checkpoints never needs it): the table is saved with the
model, and `dictionary_table_source` records the recipe that built it.
"""

from collections import defaultdict
from collections.abc import Callable

import torch

from ...data.wordnet import SPLITS, read_entries


def lemma_token_entries(tokenizer, entries: list[dict]) -> dict[int, list[int]]:
    """token id -> indices of the entries it has: those whose lemma is that one token, else those the token starts."""
    exact, starts = defaultdict(list), defaultdict(list)
    for index, entry in enumerate(entries):
        for lemma in entry["lemmas"]:
            for text in (lemma, " " + lemma):
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                if len(ids) == 1:
                    exact[ids[0]].append(index)
                elif ids:
                    starts[ids[0]].append(index)
    table = {token: sorted(set(indices)) for token, indices in starts.items()}
    table.update({token: sorted(set(indices)) for token, indices in exact.items()})
    return table


def entry_text(entry: dict) -> str:
    return f"{entry['word']}: {entry['definition']}"


def build_dictionary_table(
    tokenizer,
    encode: Callable[[list[str]], torch.Tensor],
    vocab_size: int,
    *,
    splits: tuple[str, ...] = SPLITS,
    limit: int | None = None,
) -> tuple[torch.Tensor, dict]:
    """D (vocab_size × r) and a summary (tokens covered, entries used).

    encode: texts -> (n, r) embeddings (e.g. `minilm_encoder`). limit: the first `limit` entries of each split.
    """
    entries = [entry for split in splits for entry in read_entries(split, limit)]
    token_entries = {t: e for t, e in lemma_token_entries(tokenizer, entries).items() if t < vocab_size}
    used = sorted({index for indices in token_entries.values() for index in indices})
    embeddings = encode([entry_text(entries[i]) for i in used]).float()
    row_of = {index: row for row, index in enumerate(used)}
    table = torch.zeros(vocab_size, embeddings.shape[-1])
    for token, indices in token_entries.items():
        mean = embeddings[[row_of[i] for i in indices]].mean(0)
        table[token] = mean / mean.norm().clamp_min(1e-12)
    summary = {"tokens_covered": len(token_entries), "entries_used": len(used), "splits": list(splits), "limit": limit}
    return table, summary


def minilm_encoder(model_dir: str, batch_size: int = 128) -> Callable[[list[str]], torch.Tensor]:
    """The sentence-transformers encoder in `model_dir` (e.g. the bundled all-MiniLM-L6-v2) as `encode(texts)`."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    return lambda texts: model.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)


def install_table(model, table: torch.Tensor, source: str) -> None:
    """Put a built table into a dictionary model (its base model's `dictionary_table`) and record its recipe."""
    buffer = model.base_model.dictionary_table.table
    if buffer.shape != table.shape:
        raise ValueError(f"The table is {tuple(table.shape)}; the model's is {tuple(buffer.shape)}.")
    with torch.no_grad():
        buffer.copy_(table.to(buffer.dtype))
    model.config.dictionary_table_source = source


__all__ = ["build_dictionary_table", "install_table", "lemma_token_entries", "minilm_encoder"]
