"""scripts/check_card_numbers.py: a card's measured numbers must be in its generated blocks or in a file it cites.
scripts/test.sh runs it on the repository's cards (with the linters: no test reads `results/`)."""

import json
import lzma

from scripts.check_card_numbers import unbacked_numbers


def card_with_sources(tmp_path, text: str):
    run = tmp_path / "results" / "toy" / "run-abc"
    run.mkdir(parents=True)
    (run / "comparison.json").write_text(json.dumps({"mrr": {"design": 0.51234, "interval": [-0.0042, 0.0158]}}))
    with lzma.open(run / "records.json.xz", "wt") as archive:
        json.dump(
            {"seed_0/design.json": {"metrics": {"mrr": 0.3562}, "items": [0.1 * i for i in range(500)]}}, archive
        )
    log = tmp_path / "benchmarks" / "results"
    log.mkdir(parents=True)
    (log / "speed.txt").write_text("flash 0.67 ms, design 4.04 ms, peak 2362 MiB, 22713216 parameters\n")
    card = tmp_path / "card.md"
    card.write_text(text)
    return card


def test_numbers_from_cited_files_generated_blocks_and_the_same_line_pass(tmp_path):
    card = card_with_sources(
        tmp_path,
        "# toy\n<!-- hf-archs:results toy -->\n| mrr | 9.999 |\n<!-- /hf-archs:results toy -->\n\n"
        "MRR 0.512 (interval [−0.004, 0.016]); one seed 0.356.\n"
        "Speed (`benchmarks/results/speed.txt`): 6.0× (4.04 / 0.67 ms), 22.71 M parameters.\n"
        "```\nhf-archs compare --lr 0.123\n```\nVersions: transformers 5.17.0, `pkg 1.234`.\n",
    )
    assert unbacked_numbers(card, tmp_path) == []


def test_an_unbacked_or_misrounded_number_is_reported_with_its_line(tmp_path):
    card = card_with_sources(
        tmp_path,
        "# toy\n<!-- hf-archs:results toy -->\n<!-- /hf-archs:results toy -->\n\n"
        "MRR 0.513 and 0.51234.\nSpeed 7.3× (uncited), half of it 50%.\n",
    )
    assert unbacked_numbers(card, tmp_path) == [(5, "0.513"), (6, "7.3×"), (6, "50%")]


def test_long_arrays_are_not_sources(tmp_path):
    # 12.3 is among the 500 per-item values (0.1 · 123), which back nothing: almost any decimal matches one of them.
    card = card_with_sources(
        tmp_path, "# toy\n<!-- hf-archs:results toy -->\n<!-- /hf-archs:results toy -->\n\n12.3\n"
    )
    assert unbacked_numbers(card, tmp_path) == [(5, "12.3")]
