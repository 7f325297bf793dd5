"""Word analogy a:b :: c:? built from derivational and antonym relations of the bundled WordNet corpus.

The corpus holds lemmas, parts of speech and glosses but no WordNet pointers, so a relation is read from what it
holds: a pair (a, b) belongs to a relation when b is a's affixed form (`quick` -> `quickly`, `able` -> `unable`), a
and b are lemmas of the relation's parts of speech, and a gloss of b names a's stem (`quickly`: "with speed" is
rejected, `abnormally`: "in an abnormal manner" is kept). The gloss check removes spelling coincidences
(`closed` -> `disclosed`).

Items are pairs of pairs of one relation with four distinct words; the answer d is ranked by the vector offset
cos(e_b - e_a + e_c, e_x) over every word of that relation's held-out pairs except a, b, c and other right answers
for c (pairs (c, x) of the relation). Pairs are split into train / eval by a seeded hash of the pair, then train
pairs sharing a word with an eval pair are dropped, so no word of an eval item is in a train pair; the task's
training (the contrastive definition -> word objective of `retrieval`) also drops every WordNet entry that names
an eval word (`eval_words`).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..training.embedding import ranks_of_targets


@dataclass(frozen=True)
class Relation:
    """b = prefix + a + suffix (with spelling rules for a final e / y), a of `source_pos`, b of `target_pos`."""

    name: str
    source_pos: str
    target_pos: str
    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    def forms(self, word: str) -> set[str]:
        """Candidate derived forms of `word`."""
        out = {prefix + word for prefix in self.prefixes}
        for suffix in self.suffixes:
            out.add(word + suffix)
            if word.endswith("e"):  # adore -> adorer, true -> truly
                out.add(word[:-1] + suffix)
            if word.endswith("y") and len(word) > 3:  # happy -> happiness, accompany -> accompaniment
                out.add(word[:-1] + "i" + suffix)
        out.discard(word)
        return out


RELATIONS: tuple[Relation, ...] = (
    Relation("adverb of adjective (-ly)", "adj", "adv", suffixes=("ly",)),
    Relation("quality of adjective (-ness)", "adj", "noun", suffixes=("ness",)),
    Relation("quality of adjective (-ity)", "adj", "noun", suffixes=("ity",)),
    Relation("antonym adjective (un-/in-)", "adj", "adj", prefixes=("un", "in")),
    Relation("action of verb (-ment)", "verb", "noun", suffixes=("ment",)),
    Relation("action of verb (-ion/-ation)", "verb", "noun", suffixes=("ion", "ation")),
    Relation("agent of verb (-er)", "verb", "noun", suffixes=("er",)),
    Relation("able to be verbed (-able)", "verb", "adj", suffixes=("able",)),
    Relation("verb again (re-)", "verb", "verb", prefixes=("re",)),
    Relation("make adjective (-en)", "adj", "verb", suffixes=("en",)),
    Relation("without noun (-less)", "noun", "adj", suffixes=("less",)),
    Relation("full of noun (-ful)", "noun", "adj", suffixes=("ful",)),
)

_WORD = re.compile(r"[a-z]{3,}")


@dataclass(frozen=True)
class AnalogyItem:
    """a : b :: c : d, all four words distinct, (a, b) and (c, d) pairs of `relation`."""

    relation: str
    a: str
    b: str
    c: str
    d: str


def relation_pairs(entries: Iterable[dict], relations: tuple[Relation, ...] = RELATIONS) -> dict[str, list]:
    """Relation name -> sorted (a, b) pairs found in WordNet entries (`lemmas`, `pos`, `definition`).

    Only lower-case single words of 3+ letters count (no names, no multi-word lemmas).
    """
    lemmas: dict[str, set[str]] = {}
    glosses: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        for lemma in {entry["word"], *entry["lemmas"]}:
            if _WORD.fullmatch(lemma):
                lemmas.setdefault(entry["pos"], set()).add(lemma)
                glosses.setdefault((lemma, entry["pos"]), []).append(entry["definition"].lower())

    def named_in_gloss(a: str, b: str, pos: str) -> bool:
        stem = (
            a[:-1] if a[-1] in "ey" and len(a) > 3 else a
        )  # "active" matches "activity"'s "the state of being active"
        pattern = re.compile(r"\b" + re.escape(stem))
        return any(pattern.search(gloss) for gloss in glosses[(b, pos)])

    pairs = {}
    for relation in relations:
        targets = lemmas.get(relation.target_pos, set())
        found = {
            (a, b)
            for a in lemmas.get(relation.source_pos, set())
            for b in relation.forms(a)
            if b in targets and named_in_gloss(a, b, relation.target_pos)
        }
        pairs[relation.name] = sorted(found)
    return pairs


def _pair_hash(relation: str, pair: tuple[str, str], seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\t{relation}\t{pair[0]}\t{pair[1]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_pairs(
    pairs: dict[str, list], eval_fraction: float = 0.5, seed: int = 0
) -> tuple[dict[str, list], dict[str, list]]:
    """(train, eval) pairs per relation: a pair goes to eval with probability `eval_fraction` (seeded hash of the
    pair); train keeps the other pairs that share no word with any eval pair (of any relation)."""
    eval_pairs = {name: [p for p in ps if _pair_hash(name, p, seed) < eval_fraction] for name, ps in pairs.items()}
    held_out = {word for ps in eval_pairs.values() for pair in ps for word in pair}
    train_pairs = {
        name: [p for p in ps if _pair_hash(name, p, seed) >= eval_fraction and not held_out.intersection(p)]
        for name, ps in pairs.items()
    }
    return train_pairs, eval_pairs


def analogy_items(pairs: dict[str, list], limit: int | None = None, seed: int = 0) -> list[AnalogyItem]:
    """Items (a, b) :: (c, d) from distinct pairs of one relation with four distinct words.

    With `limit`, a seeded sample spread evenly over the relations (round robin over per-relation shuffles).
    """
    per_relation = []
    for name, ps in pairs.items():
        items = [AnalogyItem(name, a, b, c, d) for a, b in ps for c, d in ps if len({a, b, c, d}) == 4]
        random.Random(f"{seed}\t{name}").shuffle(items)
        per_relation.append(items)
    out = []
    for round_ in range(max((len(items) for items in per_relation), default=0)):
        out.extend(items[round_] for items in per_relation if round_ < len(items))
    return out if limit is None else out[:limit]


def analogy_ranks(
    embeddings: torch.Tensor, index: dict[str, int], items: list[AnalogyItem], pairs: dict[str, list]
) -> list[int]:
    """1-based rank of d by cos(e_b - e_a + e_c, e_x) over the words of d's relation's `pairs` (ties count against
    d), leaving out a, b, c and the other right answers x of (c, x) in that relation.

    `embeddings` are unit-norm rows, `index` maps a word to its row.
    """
    candidates = {name: sorted({w for pair in ps for w in pair}) for name, ps in pairs.items()}
    answers: dict[tuple[str, str], set[str]] = {}
    for name, ps in pairs.items():
        for a, b in ps:
            answers.setdefault((name, a), set()).add(b)
    ranks = []
    for item in items:
        words = [
            w
            for w in candidates[item.relation]
            if w == item.d or (w not in (item.a, item.b, item.c) and w not in answers[(item.relation, item.c)])
        ]
        query = embeddings[index[item.b]] - embeddings[index[item.a]] + embeddings[index[item.c]]
        scores = embeddings[[index[w] for w in words]].double() @ query.double()
        ranks.append(int(ranks_of_targets(scores, torch.tensor(words.index(item.d)))))
    return ranks


@lru_cache(maxsize=4)
def wordnet_analogy(limit: int | None, seed: int = 0) -> tuple[tuple[AnalogyItem, ...], dict, frozenset]:
    """(eval items, eval pairs per relation, eval words) from every split of the bundled corpus (all budgets and
    models get the same items for a given `limit`)."""
    from ..data.wordnet import SPLITS, read_entries

    entries = [entry for split in SPLITS for entry in read_entries(split)]
    _, eval_pairs = split_pairs(relation_pairs(entries), seed=seed)
    words = frozenset(word for ps in eval_pairs.values() for pair in ps for word in pair)
    return tuple(analogy_items(eval_pairs, limit, seed)), eval_pairs, words
