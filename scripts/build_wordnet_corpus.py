#!/usr/bin/env python
"""Build the WordNet corpus shipped in `hf_archs/data/wordnet/`.

The corpus is a deterministic subset of WordNet 3.0 synsets, one JSON object per line:

    {"word": "bank", "lemmas": ["bank", "cant", "camber"], "pos": "noun",
     "definition": "a slope in the turn of a road or track", "examples": ["..."]}

Source: the Debian package `wordnet-base` (`apt-get install -y wordnet-base`), whose data files live in
`/usr/share/wordnet/data.{noun,verb,adj,adv}` and whose licence is in `/usr/share/doc/wordnet-base/copyright`.

Steps (all deterministic, so rerunning the script reproduces the shipped files byte for byte):
1. parse every synset of the four data files; skip the few glosses with unbalanced quotes (malformed upstream);
2. keep up to `--num-entries` synsets, preferring synsets whose gloss has example sentences (seeded sample);
3. assign each entry to train / validation / test by a seeded hash of its lower-cased `word`, so that no word
   appears in two splits (definition -> word retrieval on held-out splits is then honest);
4. shuffle each split with the seed and write it as gzipped JSON lines, plus the licence and a README.

Usage:
    python scripts/build_wordnet_corpus.py [--wordnet-dir /usr/share/wordnet] [--output-dir hf_archs/data/wordnet]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
from pathlib import Path


POS_NAMES = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}
DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
SPLITS = ("train", "validation", "test")
# Adjective lemmas carry syntactic markers such as "galore(ip)" or "used_to(p)"; they are not part of the word.
ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")
# A few glosses glue their example to the definition: `go under, "The raft sank"`, `a plan: "a laid table"`.
TRAILING_EXAMPLE = re.compile(r'^(?P<definition>.*?)[\s:,]*(?:e\.g\.,?\s*)?"(?P<example>[^"]*)"$')
# ... but a trailing quote after these is part of the definition: `(especially in the phrase "make strides")`.
USAGE_NOTE = re.compile(r"(?:\bphrase|\bas in|\bas|\bword|\bterm)$")
DEFAULT_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_gloss(gloss: str) -> tuple[str, list[str]] | None:
    """Split a WordNet gloss into its definition and its quoted example sentences.

    Glosses look like `definition; "example one"; "example two"- Author`. Returns None for malformed glosses
    (odd number of quotes), which cannot be split reliably.
    """
    if gloss.count('"') % 2:
        return None
    # Split on ";" outside quotes: examples may themselves contain semicolons.
    parts, current, in_quote = [], [], False
    for char in gloss:
        if char == '"':
            in_quote = not in_quote
        if char == ";" and not in_quote:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))

    definition, examples = [], []
    for part in (p.strip() for p in parts):
        if part.startswith('"'):
            # Keep the quoted text only; this drops trailing attributions such as `- Shakespeare`.
            example = part[1 : part.rindex('"')].strip()
            if example:
                examples.append(example)
        elif part:
            match = TRAILING_EXAMPLE.match(part)
            if match and match["definition"] and not USAGE_NOTE.search(match["definition"]):
                part = match["definition"]
                examples.append(match["example"].strip())
            definition.append(part)
    if not definition:
        return None
    return "; ".join(definition), examples


def parse_synset_line(line: str) -> dict | None:
    """Parse one line of a WordNet `data.*` file (see `man 5 wndb`) into a corpus entry."""
    fields, gloss = line.split(" | ", 1)
    tokens = fields.split()
    ss_type, word_count = tokens[2], int(tokens[3], 16)
    lemmas = []
    for raw in tokens[4 : 4 + 2 * word_count : 2]:
        lemma = ADJ_MARKER.sub("", raw).replace("_", " ")
        if lemma not in lemmas:
            lemmas.append(lemma)
    parsed = parse_gloss(gloss.strip())
    if parsed is None:
        return None
    definition, examples = parsed
    return {
        "word": lemmas[0],
        "lemmas": lemmas,
        "pos": POS_NAMES[ss_type],
        "definition": definition,
        "examples": examples,
    }


def read_wordnet(wordnet_dir: Path) -> tuple[list[dict], int]:
    """All parsable synsets in file order, and the number of skipped (malformed) ones."""
    entries, skipped = [], 0
    for name in DATA_FILES:
        with open(wordnet_dir / name, encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence header at the top of each data file
                    continue
                entry = parse_synset_line(line)
                if entry is None:
                    skipped += 1
                else:
                    entries.append(entry)
    return entries, skipped


def select_entries(entries: list[dict], num_entries: int, seed: int) -> list[dict]:
    """A seeded subset of `num_entries` entries, taking entries with examples first."""
    rng = random.Random(seed)
    with_examples = [e for e in entries if e["examples"]]
    without_examples = [e for e in entries if not e["examples"]]
    selected = []
    for pool in (with_examples, without_examples):
        room = num_entries - len(selected)
        selected += pool if len(pool) <= room else rng.sample(pool, room)
    return selected


def split_of(word: str, seed: int, fractions: tuple[float, float]) -> str:
    """Train / validation / test by a seeded hash of the word: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(f"{seed}:{word.lower()}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def write_jsonl_gz(path: Path, entries: list[dict]) -> None:
    # mtime=0 and an empty embedded file name make the gzip bytes reproducible.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        for entry in entries:
            f.write((json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))


def wordnet_license(copyright_file: Path) -> str:
    """The WordNet 3.0 licence text of the Debian copyright file, decoded from its DEP-5 layout.

    In DEP-5, continuation lines are indented by one space and blank lines are written as " .", so undoing that
    gives the notice verbatim.
    """
    lines = copyright_file.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Files: *"))
    copyright_line = next(line for line in lines[start:] if line.startswith("Copyright:"))
    license_at = next(i for i in range(start, len(lines)) if lines[i].startswith("License: WordNet"))
    body = []
    for line in lines[license_at + 1 :]:
        if not line.startswith(" "):
            break
        body.append("" if line.strip() == "." else line[1:])
    header = copyright_line.removeprefix("Copyright:").strip()
    return f"WordNet 3.0 license\nCopyright: {header}\n\n" + "\n".join(body).rstrip() + "\n"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


README_TEMPLATE = """\
# WordNet definitions corpus

A small English corpus of dictionary entries taken from **WordNet 3.0** (Princeton University), used by
`hf_archs.data.load_wordnet` / `wordnet_texts` and by the LoRA recipes (definition -> word retrieval for
embedding models, language modelling on `word: definition. example.` texts).

Each line of `{{train,validation,test}}.jsonl.gz` is one WordNet synset:

| field | meaning |
| --- | --- |
| `word` | the synset's first lemma (underscores replaced by spaces) |
| `lemmas` | all lemmas of the synset (same normalization; adjective markers such as `(p)` removed) |
| `pos` | `noun`, `verb`, `adj` (incl. satellite adjectives) or `adv` |
| `definition` | the gloss without its quoted example sentences |
| `examples` | the quoted example sentences of the gloss (attributions dropped) |

## Source

The data files `data.noun`, `data.verb`, `data.adj`, `data.adv` of the Debian package `wordnet-base`
({package_version}), i.e. WordNet 3.0 as packaged by Debian. SHA-256 of the inputs:

{input_hashes}

## How it was built

```
apt-get install -y wordnet-base
python scripts/build_wordnet_corpus.py --num-entries {num_entries} --seed {seed}
```

Of the {num_read} synsets read, {num_skipped} are skipped (glosses with unbalanced quotes, malformed
upstream). {num_entries} entries are kept, synsets with example sentences first (a seeded sample when there
are more than that). Entries are split by a seeded SHA-256 hash of the lower-cased `word`
({fractions}), so **no word appears in two splits**. Each split is shuffled with the seed, so the first N
rows of a split are a random sample of it.

| split | entries | distinct words | with examples | file | SHA-256 |
| --- | --- | --- | --- | --- | --- |
{split_rows}

## Licence

WordNet 3.0 is distributed under the WordNet 3.0 licence, reproduced in `LICENSE` in this folder (taken from
`/usr/share/doc/wordnet-base/copyright`). The notice must accompany every copy of this data.
"""


def write_readme(output_dir: Path, splits: dict[str, list[dict]], args, num_read: int, num_skipped: int) -> None:
    version = "version unknown"
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        match = re.search(r"Package: wordnet-base\n(?:.+\n)*?Version: (\S+)", status.read_text(encoding="utf-8"))
        version = f"version {match.group(1)}" if match else version
    input_hashes = "\n".join(f"- `{name}`: `{sha256_of(args.wordnet_dir / name)}`" for name in DATA_FILES)
    rows = []
    for split, entries in splits.items():
        path = output_dir / f"{split}.jsonl.gz"
        words = len({e["word"].lower() for e in entries})
        with_examples = sum(bool(e["examples"]) for e in entries)
        rows.append(f"| {split} | {len(entries)} | {words} | {with_examples} | `{path.name}` | `{sha256_of(path)}` |")
    fractions = ", ".join(
        f"{s} {f:.0%}" for s, f in zip(SPLITS, (*args.fractions, 1 - sum(args.fractions)), strict=True)
    )
    text = README_TEMPLATE.format(
        package_version=version,
        input_hashes=input_hashes,
        num_entries=args.num_entries,
        seed=args.seed,
        num_read=num_read,
        num_skipped=num_skipped,
        fractions=fractions,
        split_rows="\n".join(rows),
    )
    (output_dir / "README.md").write_text(text, encoding="utf-8")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet-dir", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--copyright-file", type=Path, default=DEFAULT_COPYRIGHT)
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "hf_archs" / "data" / "wordnet")
    parser.add_argument("--num-entries", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fractions", type=float, nargs=2, default=(0.8, 0.1), help="train and validation fractions (test: the rest)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not (args.wordnet_dir / "data.noun").exists():
        raise SystemExit(f"No WordNet data in {args.wordnet_dir}: run `apt-get install -y wordnet-base` first.")
    entries, skipped = read_wordnet(args.wordnet_dir)
    selected = select_entries(entries, args.num_entries, args.seed)

    splits = {split: [] for split in SPLITS}
    for entry in selected:
        splits[split_of(entry["word"], args.seed, tuple(args.fractions))].append(entry)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    for split, split_entries in splits.items():
        random.Random(f"{args.seed}:{split}").shuffle(split_entries)
        write_jsonl_gz(args.output_dir / f"{split}.jsonl.gz", split_entries)
    (args.output_dir / "LICENSE").write_text(wordnet_license(args.copyright_file), encoding="utf-8")
    write_readme(args.output_dir, splits, args, len(entries) + skipped, skipped)

    total = sum(p.stat().st_size for p in args.output_dir.iterdir())
    print(f"parsed {len(entries)} synsets ({skipped} skipped), kept {len(selected)}")
    for split, split_entries in splits.items():
        print(f"  {split:<10} {len(split_entries):>6} entries")
    print(f"wrote {args.output_dir} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
