"""The WordNet analogy task: relation pairs from glosses, leak-free splits, items, and the vector-offset scorer."""

import pytest
import torch

from hf_archs.evaluation.analogy import (
    RELATIONS,
    AnalogyItem,
    Relation,
    analogy_items,
    analogy_ranks,
    relation_pairs,
    split_pairs,
    wordnet_analogy,
)


def _entry(word, pos, definition, lemmas=None):
    return {"word": word, "lemmas": lemmas or [word], "pos": pos, "definition": definition, "examples": []}


ENTRIES = [
    _entry("quick", "adj", "moving fast"),
    _entry("quickly", "adv", "in a quick manner"),
    _entry("happy", "adj", "enjoying well-being"),
    _entry("happily", "adv", "in a happy manner"),
    _entry("happiness", "noun", "state of well-being", ["happiness", "felicity"]),
    _entry("closed", "adj", "not open"),
    _entry("disclosed", "adj", "made known"),  # spelling coincidence, the gloss does not name "closed"
    _entry("able", "adj", "having the means"),
    _entry("unable", "adj", "not able"),
    _entry("Smith", "noun", "a worker"),
    _entry("Smithly", "adv", "like Smith"),  # a name: not a lower-case word
]


def test_relation_pairs_need_the_affix_the_parts_of_speech_and_the_gloss():
    relations = (
        Relation("ly", "adj", "adv", suffixes=("ly",)),
        Relation("ness", "adj", "noun", suffixes=("ness",)),
        Relation("neg", "adj", "adj", prefixes=("un", "dis")),
    )
    pairs = relation_pairs(ENTRIES, relations)
    assert pairs["ly"] == [("happy", "happily"), ("quick", "quickly")]
    # "happiness"'s gloss does not name "happ(y)": rejected; "disclosed" likewise.
    assert pairs["ness"] == []
    assert pairs["neg"] == [("able", "unable")]


def test_relation_forms_apply_spelling_rules():
    relation = Relation("x", "adj", "noun", suffixes=("ness",), prefixes=("un",))
    assert relation.forms("happy") == {"happyness", "happiness", "unhappy"}
    assert "adorer" in Relation("er", "verb", "noun", suffixes=("er",)).forms("adore")


def _pairs():
    words = [f"w{i}" for i in range(40)]
    return {
        "r1": [(w, w + "ly") for w in words[:20]],
        "r2": [(w, "un" + w) for w in words[10:40]],  # shares words w10..w19 with r1
    }


def test_split_leaks_no_word_from_eval_into_train():
    train, evaluation = split_pairs(_pairs(), eval_fraction=0.5, seed=3)
    eval_words = {w for ps in evaluation.values() for p in ps for w in p}
    train_words = {w for ps in train.values() for p in ps for w in p}
    assert eval_words and train_words
    assert not eval_words & train_words
    for name, ps in _pairs().items():
        assert set(train[name]) | set(evaluation[name]) <= set(ps)
        assert not set(train[name]) & set(evaluation[name])
    # Deterministic for a seed, different for another.
    assert split_pairs(_pairs(), seed=3) == (train, evaluation)
    assert split_pairs(_pairs(), seed=4) != (train, evaluation)


def test_items_pair_two_pairs_of_one_relation_with_four_distinct_words():
    pairs = {"r": [("a", "b"), ("c", "d"), ("a", "e")], "s": [("x", "y"), ("z", "t")]}
    items = analogy_items(pairs)
    assert set(items) == {
        AnalogyItem("r", "a", "b", "c", "d"),
        AnalogyItem("r", "c", "d", "a", "b"),
        AnalogyItem("r", "a", "e", "c", "d"),
        AnalogyItem("r", "c", "d", "a", "e"),
        AnalogyItem("s", "x", "y", "z", "t"),
        AnalogyItem("s", "z", "t", "x", "y"),
    }
    for item in items:
        assert (item.a, item.b) in pairs[item.relation] and (item.c, item.d) in pairs[item.relation]
    # A limited sample takes from every relation in turn.
    assert {item.relation for item in analogy_items(pairs, limit=2)} == {"r", "s"}
    assert analogy_items(pairs, limit=4, seed=1) == analogy_items(pairs, limit=4, seed=1)


def test_scorer_ranks_by_vector_offset_on_a_known_table():
    # Relation "r" adds the direction e0 to a word; words differ in the other coordinates.
    table = {
        "a": [0.0, 1.0, 0.0, 0.0],
        "b": [1.0, 1.0, 0.0, 0.0],
        "c": [0.0, 0.0, 1.0, 0.0],
        "d": [1.0, 0.0, 1.0, 0.0],
        "e": [0.0, 0.0, 0.0, 1.0],
        "f": [1.0, 0.0, 0.0, 1.0],
    }
    words = sorted(table)
    embeddings = torch.nn.functional.normalize(torch.tensor([table[w] for w in words]), dim=-1)
    index = {w: i for i, w in enumerate(words)}
    pairs = {"r": [("a", "b"), ("c", "d"), ("e", "f")]}
    items = [
        AnalogyItem("r", "a", "b", "c", "d"),
        AnalogyItem("r", "c", "d", "e", "f"),
        AnalogyItem("r", "e", "f", "a", "b"),
    ]
    assert analogy_ranks(embeddings, index, items, pairs) == [1, 1, 1]
    # Swap the rows of d and e: b - a + c now points at e's row (score sqrt 2), then f (1 / sqrt 2), then d (0).
    swapped = embeddings[[index[w] for w in ["a", "b", "c", "e", "d", "f"]]]
    assert analogy_ranks(swapped, index, items[:1], pairs) == [3]


def test_scorer_leaves_out_other_right_answers_for_c():
    table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 0.1], "d": [0.5, 1.0], "d2": [0.0, 1.0]}
    words = sorted(table)
    embeddings = torch.nn.functional.normalize(torch.tensor([table[w] for w in words]), dim=-1)
    index = {w: i for i, w in enumerate(words)}
    # d2 is closer to the offset than d but is also a right answer for c: it does not count against d.
    pairs = {"r": [("a", "b"), ("c", "d"), ("c", "d2")]}
    assert analogy_ranks(embeddings, index, [AnalogyItem("r", "a", "b", "c", "d")], pairs) == [1]
    pairs = {"r": [("a", "b"), ("c", "d"), ("x", "d2")]}
    table["x"] = [0.0, -1.0]
    words = sorted(table)
    embeddings = torch.nn.functional.normalize(torch.tensor([table[w] for w in words]), dim=-1)
    index = {w: i for i, w in enumerate(words)}
    assert analogy_ranks(embeddings, index, [AnalogyItem("r", "a", "b", "c", "d")], pairs) == [2]


@pytest.mark.slow
def test_bundled_wordnet_gives_hundreds_of_items_over_every_relation_without_leaks():
    from hf_archs.data import load_wordnet

    items, pairs, words = wordnet_analogy(500)
    assert len(items) == 500 and len(set(items)) == 500
    assert {item.relation for item in items} == {r.name for r in RELATIONS}
    for item in items:
        assert (item.a, item.b) in pairs[item.relation] and (item.c, item.d) in pairs[item.relation]
        assert {item.a, item.b, item.c, item.d} <= words
    # The training set of the task's objective names no eval word.
    train = load_wordnet("train").filter(lambda e: words.isdisjoint([e["word"], *e["lemmas"]]))
    assert len(train) > 20000
    assert not words & {w for e in train for w in [e["word"], *e["lemmas"]]}


def test_embedding_training_drops_entries_that_name_an_excluded_word():
    from hf_archs.data import load_wordnet
    from hf_archs.training.finetune import _embedding_setup

    first = load_wordnet("train", limit=50)
    excluded = {first[0]["word"], first[1]["lemmas"][-1]}
    setup = _embedding_setup("no-such-folder", None, 50, 8, exclude_words=excluded)
    kept = {(e["word"], e["definition"]) for e in setup.train_dataset}
    assert (first[0]["word"], first[0]["definition"]) not in kept and (
        first[1]["word"],
        first[1]["definition"],
    ) not in kept
    assert len(kept) == sum(excluded.isdisjoint([e["word"], *e["lemmas"]]) for e in first) < 50


@pytest.mark.slow
@pytest.mark.parametrize("stock", ["bert", "llama"])
def test_analogy_compare_on_encoder_and_decoder(tiny_models, tmp_path, stock, monkeypatch):
    from hf_archs.evaluation import BUDGETS, compare
    from hf_archs.training import finetune

    seen = []
    original = finetune._embedding_setup
    monkeypatch.setattr(finetune, "_embedding_setup", lambda *a: seen.append(a[4]) or original(*a))
    ci = BUDGETS["ci"]
    design = str(tiny_models[f"{stock}_semantic"])
    result = compare(design, str(tiny_models[stock]), "analogy", ci, out=tmp_path, seeds=[0, 1], progress=False)
    assert [m.metric for m in result.metrics] == ["accuracy@1", "mrr"]
    # Both models trained without the eval words.
    assert len(seen) == 4 and all(words == wordnet_analogy(ci.eval_size)[2] for words in seen)
    record = result.run_dir / "seed_0" / "design.json"
    assert record.is_file()
