"""Every measured number in README.md and model_cards/*.md comes from a stored record or a committed log.

A card's numbers are either inside a generated block (`<!-- hf-archs:KIND NAME -->` … `<!-- /hf-archs:KIND NAME -->`,
written by `hf-archs leaderboard`/`cards` from the stored records; or a benchmark's own `<!-- GENERATED NAME -->` …
`<!-- END NAME -->`), or backed by a file the card cites: a number counts as backed when some number in one of the
card's sources equals it at its written precision (a percentage also as a fraction; the sign aside, since prose says
"lower by 0.03" for −0.03; scientific notation within 5 %). The sources of a card are every file under
`results/NAME/` of its results blocks and every `results/…`, `benchmarks/results/…` or `tests/fixtures/…` path it
names (a plot's folder for a plot), as far as git keeps them (an ignored file is not in a clean clone); records
archives (`.xz`) are read too.

Checked: decimals, and any number written with `%` or `×`, in prose and tables. Not checked: fenced code and inline
code (commands and their arguments), link targets, and version numbers (after "transformers", "torch", …). What this
cannot see: a number that matches a source by coincidence, or one quoted from the right file for the wrong row.

Usage: `python scripts/check_card_numbers.py [FILES]` (default: README.md and model_cards/*.md); exit 1 with the
unbacked numbers, file and line, when there are any. Run by scripts/test.sh with the linters.
"""

from __future__ import annotations

import functools
import json
import lzma
import re
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
GENERATED = re.compile(
    r"<!-- hf-archs:(\w+) (\S+) -->.*?<!-- /hf-archs:\1 \2 -->|<!-- GENERATED (\S+) -->.*?<!-- END \3 -->", re.S
)
RESULTS_BLOCK = re.compile(r"<!-- hf-archs:results (\S+) -->")
FENCED = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
# A path, or several as `name.{json,txt}`.
CITED = re.compile(r"((?:results|benchmarks/results|tests/fixtures)/[\w./+-]*(?:\{[\w,]+\}|[\w/]))")
VERSION = re.compile(
    r"\b(?:transformers|torch|peft|triton|accelerate|python|Python|CUDA|sentence-transformers|datasets|Django|Perl|WordNet"
    r"|version|v)"
    r"\s*(?:[<>=]=?\s*)?\d+(?:\.\d+)+"
)
NUMBER = re.compile(r"(?<![\w.\-/])[-−+]?(\d+\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)(%|×|\s?MB?\b)?(?![\w.]*\d)")
SOURCE_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
SOURCE_SUFFIXES = {".json", ".md", ".txt", ".xz", ".xml", ".log", ".csv"}
LONG_ARRAY = 64


def sources(card: str, root: Path = ROOT) -> list[Path]:
    """The files a card's numbers may come from: its results blocks' folders and the paths it cites."""
    roots = [root / "results" / name for name in RESULTS_BLOCK.findall(card)]
    for cited in CITED.findall(card):
        stem, _, suffixes = cited.partition("{")
        for name in [stem + suffix for suffix in suffixes.rstrip("}").split(",")] if suffixes else [cited]:
            path = root / name
            roots.append(path.parent if path.suffix == ".png" else path)
    files = set()
    for folder_or_file in roots:
        if folder_or_file.is_file():
            files.add(folder_or_file)
        elif folder_or_file.is_dir():
            files.update(p for p in folder_or_file.rglob("*") if p.is_file())
    kept = kept_files(root)
    return sorted(p for p in files if p.suffix in SOURCE_SUFFIXES and (kept is None or p in kept))


@functools.cache
def kept_files(root: Path) -> frozenset[Path] | None:
    """The files git keeps under `root` (tracked, or new and not ignored): an ignored file (a run's per-seed working
    copies) is not in a clean clone, so it backs nothing. None outside a git checkout."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root, capture_output=True
    )
    if listing.returncode != 0:
        return None
    return frozenset(root / name for name in listing.stdout.decode().split("\0") if name)


@functools.cache
def file_numbers(path: Path) -> frozenset[float]:
    """The numbers of one source file; in JSON, not those of long arrays (per-item values, curves), where almost any
    short decimal would find a match by chance."""
    text = lzma.open(path, "rt").read() if path.suffix == ".xz" else path.read_text(errors="ignore")
    try:
        return frozenset(_json_numbers(json.loads(text)))
    except ValueError:
        return frozenset(abs(float(match)) for match in SOURCE_NUMBER.findall(text))


def _json_numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [abs(float(value))]
    if isinstance(value, str):
        return [abs(float(match)) for match in SOURCE_NUMBER.findall(value)]
    if isinstance(value, dict):
        return [number for item in value.values() for number in _json_numbers(item)]
    if isinstance(value, list) and len(value) <= LONG_ARRAY:
        return [number for item in value for number in _json_numbers(item)]
    return []


SCALES = {"%": 0.01, "M": 1e6, "MB": 1e6}


def is_backed(written: str, unit: str | None, values: list[float]) -> bool:
    return any(abs(v - target) <= tolerance for target, tolerance in _targets(written, unit) for v in values)


def _targets(written: str, unit: str | None) -> list[tuple[float, float]]:
    """(value, tolerance) pairs a source number may match: as written, and scaled by its unit (%, M or MB)."""
    value = abs(float(written))
    if "e" in written.lower():
        return [(value, 0.05 * value)]
    half = 0.5 * 10 ** -len(written.partition(".")[2]) + 1e-12
    scale = SCALES.get((unit or "").strip())
    return [(value, half)] + ([(value * scale, half * scale)] if scale else [])


def is_derived(written: str, unit: str | None, neighbours: list[float]) -> bool:
    """Whether the number is the difference, ratio, product or mean of two backed numbers on the same line (a reader
    checks it on the spot: "0.5565 vs 0.5529, +0.004")."""
    derived = [
        value
        for a in neighbours
        for b in neighbours
        for value in (a - b, a * b, a / b if b else 0.0, (a + b) / 2)
        if a is not b
    ]
    return is_backed(written, unit, [abs(value) for value in derived])


def checked_text(card: str) -> str:
    """The card with what is not checked blanked out, lines kept (so that line numbers stay right)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    for pattern in (GENERATED, FENCED, INLINE_CODE, LINK_TARGET, VERSION):
        card = pattern.sub(blank, card)
    return card


def unbacked_numbers(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, number as written) of every checked number of the card at `path` that no source under `root` backs."""
    card = path.read_text()
    values = sorted(set().union(*(file_numbers(source) for source in sources(card, root))))
    found = []
    for line_number, line in enumerate(checked_text(card).splitlines(), 1):
        numbers = [match for match in NUMBER.finditer(line) if "." in match.group(1) or match.group(2)]
        backed = {match.start(): is_backed(*match.groups(), values) for match in numbers}
        neighbours = [abs(float(match.group(1))) for match in numbers if backed[match.start()]]
        for match in numbers:
            if not backed[match.start()] and not is_derived(*match.groups(), neighbours):
                found.append((line_number, match.group(0).strip()))
    return found


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or [ROOT / "README.md", *sorted((ROOT / "model_cards").glob("*.md"))]
    failures = 0
    for path in paths:
        for line, number in unbacked_numbers(path):
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}: {number} has no source")
            failures += 1
    if failures:
        print(
            f"{failures} numbers without a stored record or committed log (see the docstring of {Path(__file__).name})"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
