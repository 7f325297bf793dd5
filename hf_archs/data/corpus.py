"""An English pretraining corpus built offline-reproducibly from text shipped in Debian packages.

    hf-archs corpus build [--out outputs/corpus] [--cache outputs/corpus/debs] [--vocab-size 16384] [--tiny]

Steps (deterministic: the same manifest gives the same documents, split, tokenizer and token files):
1. fetch each package of `corpus_manifest.json` at its pinned version (`apt-get download NAME=VERSION` into the
   cache; nothing is installed), check its sha256 against the manifest, unpack it with `dpkg-deb -x`;
2. extract plain text: HTML pages through `html.parser` (the page's main element only), reStructuredText with light
   cleanup (directives, comments, heading underlines and role markup removed), Perl POD (commands dropped,
   formatting codes unwrapped), dictd dictionaries entry by entry;
3. drop near-empty documents and exact duplicates (after whitespace and case normalisation);
4. split train / validation by a salted hash of each document (a document never moves between splits when others
   are added or removed);
5. train a byte-level BPE tokenizer (`tokenizers`) on the train split only;
6. write `dataset/` (a `datasets.DatasetDict`, `save_to_disk`), `tokenizer/`, the token streams
   `tokens-{split}.npy.xz` (uint16, documents separated by the eos token, lzma-compressed: small enough to carry to
   a GPU machine) and `corpus.json` (sources, licences, counts, hashes).

`--tiny` runs the same steps 3-6 on the WordNet entries shipped with the package (no download; for CI).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import io
import json
import lzma
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


MANIFEST = Path(__file__).with_name("corpus_manifest.json")
SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
SPLIT_SALT = b"hf-archs-corpus-v1"
VALIDATION_PER_MILLE = 20  # 2% of documents
MIN_CHARS = 40
MAX_COMPRESSED_BYTES = 50 * 1024 * 1024


# --- fetching -------------------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_package(package: dict, cache: Path) -> Path:
    """The unpacked tree of the pinned package (downloaded once into `cache`); raises if its checksum differs."""
    cache.mkdir(parents=True, exist_ok=True)
    deb = cache / f"{package['name']}_{package['version'].replace(':', '%3a')}_all.deb"
    if not deb.exists():
        subprocess.run(["apt-get", "download", f"{package['name']}={package['version']}"], cwd=cache, check=True)
    digest = sha256_file(deb)
    if digest != package["sha256"]:
        raise ValueError(f"{deb.name}: sha256 {digest} differs from the manifest's {package['sha256']}.")
    tree = cache / "unpacked" / package["name"]
    if not (tree / ".complete").exists():
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        (tree / ".complete").write_text(digest)
    return tree


# --- extraction ------------------------------------------------------------------------------------------------------

_BLOCK_TAGS = {"p", "div", "section", "li", "dt", "dd", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "br", "table"}
_SKIPPED_TAGS = {"script", "style", "nav"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr", "source"}
# Decorations inside the main element: Sphinx's pilcrow links and sidebars, Publican's (Debian handbook) page
# navigation and ebook banner.
_SKIPPED_CLASSES = {"headerlink", "sphinxsidebar", "related", "footer", "docnav"}
_SKIPPED_IDS = {"banner", "title"}


class _HTMLText(HTMLParser):
    """Text inside the page's main element (`main`: "role=main", "id=yui-main", "tag=body"), one paragraph per
    block element."""

    def __init__(self, main: str = "role=main"):
        super().__init__(convert_charrefs=True)
        self.main_key, _, self.main_value = main.partition("=")
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, opens main, opens a skipped region)
        self.in_main = self.skipping = 0

    def _is_main(self, tag: str, attrs: dict) -> bool:
        return tag == self.main_value if self.main_key == "tag" else attrs.get(self.main_key) == self.main_value

    def handle_starttag(self, tag, attrs):
        if tag in _VOID_TAGS:  # no end tag (XHTML's `<img />` sends one: handle_endtag ignores it)
            if tag == "br" and self.in_main and not self.skipping:
                self.parts.append("\n")
            return
        attrs = dict(attrs)
        opens_main = self._is_main(tag, attrs)
        skipped = (
            tag in _SKIPPED_TAGS
            or attrs.get("id") in _SKIPPED_IDS
            or bool(_SKIPPED_CLASSES & set((attrs.get("class") or "").split()))
        )
        self.in_main += opens_main
        self.skipping += skipped
        self.stack.append((tag, opens_main, skipped))

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS or all(open_tag != tag for open_tag, _, _ in self.stack):
            return  # a stray end tag closes nothing
        # Pop to the matching tag (tolerates unclosed <p>, <li> ...).
        while self.stack:
            open_tag, opens_main, skipped = self.stack.pop()
            self.in_main -= opens_main
            self.skipping -= skipped
            if open_tag == tag:
                break
        if tag in _BLOCK_TAGS and self.in_main and not self.skipping:
            self.parts.append("\n\n")  # a paragraph break (normalize_paragraphs joins the lines of a paragraph)

    def handle_data(self, data):
        if self.in_main and not self.skipping:
            self.parts.append(data)


def html_to_text(page: str, main: str = "role=main") -> str:
    parser = _HTMLText(main)
    parser.feed(page)
    parser.close()
    return normalize_paragraphs("".join(parser.parts))


_POD_CODE = re.compile(r"[A-Z]<(?:<+\s)?([^<>]*?)(?:\s>+)?>")
_POD_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/"}


def pod_to_text(source: str) -> str:
    """Perl POD as prose: `=head1 NAME` keeps its text, other commands and `=begin`...`=end` blocks go;
    formatting codes keep their text (`L<text|target>` its text, `E<gt>` its character, `X<...>`/`Z<>` nothing)."""
    lines, in_block = [], False
    for line in source.splitlines():
        if line.startswith("=begin"):
            in_block = True
        if in_block:
            in_block = not line.startswith("=end")
            continue
        if line.startswith("=head") or line.startswith("=item"):
            line = line.split(None, 1)[1] if " " in line else ""
        elif line.startswith("="):
            continue
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r"[XZ]<[^<>]*>", "", text)
    text = re.sub(r"E<(\w+)>", lambda m: _POD_ESCAPES.get(m.group(1), ""), text)
    text = re.sub(r"L<([^<>|]*)\|[^<>]*>", r"\1", text)
    while (replaced := _POD_CODE.sub(r"\1", text)) != text:  # nested codes: B<C<x>>
        text = replaced
    return normalize_paragraphs(text)


_RST_UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+.:_])\1{2,}\s*$")
_RST_TABLE_RULE = re.compile(r"^\s*[+|][-=+|]+[+|]?\s*$")
_RST_DIRECTIVE = re.compile(r"^(\s*)\.\.(\s|$)")
_RST_FIELD = re.compile(r"^\s*:[\w -]+:(\s|$)")
_RST_ROLE = re.compile(r":[\w:+-]+:`([^`<]*?)(?:\s*<[^`>]*>)?`")
_RST_LITERAL = re.compile(r"``([^`]+)``")
_RST_LINK = re.compile(r"`([^`<]+?)\s*(?:<[^`>]*>)?`_{1,2}")


def rst_to_text(source: str) -> str:
    """Light reStructuredText cleanup: the prose stays, markup and directives go.

    Comments and directives (`.. name::`, `.. SPDX...`) are dropped with their indented body only when the body is
    options or a comment (`:field:` lines); code blocks and notes keep their text. Heading underlines/overlines
    and table rules are dropped; `:role:`text <target>``, ``literal`` and `link <url>`_ keep their text.
    """
    lines = []
    in_comment_indent = None
    for line in source.splitlines():
        if in_comment_indent is not None:
            if line.strip() and (len(line) - len(line.lstrip())) <= in_comment_indent:
                in_comment_indent = None
            else:
                continue
        match = _RST_DIRECTIVE.match(line)
        if match:
            # `.. note::` keeps its body; a comment (`.. text` without `::`) and its indented lines go.
            if "::" not in line:
                in_comment_indent = len(match.group(1))
            continue
        if _RST_UNDERLINE.match(line) or _RST_TABLE_RULE.match(line) or _RST_FIELD.match(line):
            continue
        line = _RST_ROLE.sub(r"\1", line)
        line = _RST_LITERAL.sub(r"\1", line)
        line = _RST_LINK.sub(r"\1", line)
        lines.append(line.rstrip())
    return normalize_paragraphs("\n".join(lines))


_DICTD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SOURCE_TAG = re.compile(r"^\s*\[[^\]\n]*\]\s*$", re.MULTILINE)  # "[1913 Webster]", "[WordNet 1.5]", "[PJC]"
_PRONUNCIATION = re.compile(r"\\[^\\\n]*\\")  # Arrive \Ar*rive"\, v. t.


def _dictd_number(text: str) -> int:
    value = 0
    for char in text:
        value = value * 64 + _DICTD_B64.index(char)
    return value


def dictd_entries(index: str, data: bytes) -> list[str]:
    """The distinct entries of a dictd dictionary (index lines `headword<TAB>offset<TAB>length`), in file order,
    without the `00-database-*` header entries."""
    spans = set()
    for line in index.splitlines():
        headword, offset, length = line.split("\t")[:3]
        if not headword.startswith("00-database"):
            spans.add((_dictd_number(offset), _dictd_number(length)))
    return [data[start : start + length].decode("utf-8", "replace") for start, length in sorted(spans)]


def dictd_entry_to_text(entry: str) -> str:
    entry = _SOURCE_TAG.sub("", entry)
    entry = _PRONUNCIATION.sub("", entry)
    return normalize_paragraphs(entry)


def normalize_paragraphs(text: str) -> str:
    """Paragraphs (blank-line separated) with their lines joined by single spaces."""
    text = html.unescape(text)
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def _read_maybe_gzip(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def extract_documents(package: dict, tree: Path) -> list[tuple[str, str]]:
    """(document id, text) of one unpacked package, by the manifest's extractor."""
    root = tree / package["root"]
    name, extractor = package["name"], package["extractor"]
    if extractor == "dictd":
        index = root.with_suffix(".index").read_text("utf-8", "replace")
        data = gzip.decompress(root.with_suffix(".dict.dz").read_bytes())
        entries = dictd_entries(index, data)
        return [(f"{name}:{i}", dictd_entry_to_text(e)) for i, e in enumerate(tqdm(entries, desc=name, leave=False))]
    if extractor == "html":
        files = sorted(p for p in root.rglob("*.html") if "_sources" not in p.parts and not _is_sphinx_index(p))
        main = package.get("main", "role=main")

        def convert(page):
            return html_to_text(page, main)

    elif extractor == "pod":
        files = sorted(root.glob("*.pod"))
        convert = pod_to_text
    elif extractor == "rst":
        files = sorted(p for p in root.rglob("*") if p.name.endswith((".rst", ".rst.gz", ".txt", ".txt.gz")))
        convert = rst_to_text
    else:
        raise ValueError(f"Unknown extractor {extractor!r} for {name}.")
    return [
        (f"{name}:{p.relative_to(root)}", convert(_read_maybe_gzip(p))) for p in tqdm(files, desc=name, leave=False)
    ]


def _is_sphinx_index(path: Path) -> bool:
    return path.name in ("genindex.html", "search.html", "py-modindex.html") or path.name.startswith("genindex-")


def tiny_documents() -> list[tuple[str, str]]:
    """The `--tiny` source: 3000 of the shipped WordNet entries, 5 per document (no download)."""
    from .wordnet import wordnet_texts

    texts = [t for split in ("train", "validation", "test") for t in wordnet_texts(split, limit=1000)]
    return [(f"wordnet:{i // 5}", " ".join(texts[i : i + 5])) for i in range(0, len(texts), 5)]


# --- cleaning, splitting, tokenizing ---------------------------------------------------------------------------------


def deduplicate(documents: list[tuple[str, str]], min_chars: int = MIN_CHARS) -> list[tuple[str, str]]:
    """Documents of at least `min_chars` characters, first copy of each text (case and whitespace ignored)."""
    seen, kept = set(), []
    for doc_id, text in documents:
        if len(text) < min_chars:
            continue
        key = hashlib.sha256(" ".join(text.lower().split()).encode()).digest()
        if key not in seen:
            seen.add(key)
            kept.append((doc_id, text))
    return kept


def split_of(text: str) -> str:
    """The split of a document: "validation" for ~2% of documents, by a salted hash of its text alone."""
    digest = hashlib.sha256(SPLIT_SALT + text.encode()).digest()
    return "validation" if int.from_bytes(digest[:4], "big") % 1000 < VALIDATION_PER_MILLE else "train"


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE tokenizer (no unknown tokens) as a `PreTrainedTokenizerFast` with pad/bos/eos/mask."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(tqdm(texts, desc="train tokenizer", leave=False), trainer=trainer, length=len(texts))
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        mask_token="<mask>",
    )


def token_stream(tokenizer, texts: list[str], desc: str) -> np.ndarray:
    """Every text's token ids followed by the eos id, concatenated, as uint16."""
    if len(tokenizer) > np.iinfo(np.uint16).max:
        raise ValueError(f"A vocabulary of {len(tokenizer)} does not fit uint16.")
    eos = tokenizer.eos_token_id
    chunks = []
    for start in tqdm(range(0, len(texts), 512), desc=f"tokenize {desc}", leave=False):
        for ids in tokenizer(texts[start : start + 512], add_special_tokens=False)["input_ids"]:
            chunks.append(np.asarray(ids + [eos], dtype=np.uint16))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)


def save_tokens(tokens: np.ndarray, path: Path) -> str:
    """Write `tokens` as an lzma-compressed .npy; returns the file's sha256."""
    buffer = io.BytesIO()
    np.save(buffer, tokens)
    path.write_bytes(lzma.compress(buffer.getvalue(), preset=6))
    return sha256_file(path)


def load_tokens(path: str | Path) -> np.ndarray:
    return np.load(io.BytesIO(lzma.decompress(Path(path).read_bytes())))


def build_corpus(
    out: str | Path, cache: str | Path | None = None, vocab_size: int = 16384, tiny: bool = False
) -> dict:
    """Build the corpus under `out`; returns (and writes as `corpus.json`) its description."""
    from datasets import Dataset, DatasetDict

    start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(MANIFEST.read_text())
    documents, sources = [], []
    if tiny:
        documents = tiny_documents()
        sources.append({"name": "hf_archs/data/wordnet", "licence": "WordNet 3.0 licence (see its LICENSE)"})
    else:
        cache = Path(cache) if cache else out / "debs"
        for package in manifest["packages"]:
            tree = fetch_package(package, cache)
            documents.extend(extract_documents(package, tree))
            sources.append({k: package[k] for k in ("name", "version", "sha256", "licence")})
    raw_count = len(documents)
    documents = deduplicate(documents)
    splits = {"train": [], "validation": []}
    for doc_id, text in documents:
        splits[split_of(text)].append((doc_id, text))

    tokenizer = train_tokenizer([text for _, text in splits["train"]], vocab_size)
    tokenizer.save_pretrained(out / "tokenizer")
    description = {
        "tiny": tiny,
        "sources": sources,
        "documents_before_dedup": raw_count,
        "vocab_size": len(tokenizer),
        "splits": {},
    }
    dataset = {}
    for split, docs in splits.items():
        texts = [text for _, text in docs]
        tokens = token_stream(tokenizer, texts, split)
        token_file = out / f"tokens-{split}.npy.xz"
        per_source = {}
        for doc_id, _ in docs:
            per_source[doc_id.split(":")[0]] = per_source.get(doc_id.split(":")[0], 0) + 1
        description["splits"][split] = {
            "documents": len(docs),
            "documents_per_source": per_source,
            "characters": sum(len(t) for t in texts),
            "tokens": int(tokens.size),
            "token_file": token_file.name,
            "token_file_sha256": save_tokens(tokens, token_file),
            "token_file_bytes": token_file.stat().st_size,
        }
        dataset[split] = Dataset.from_dict(
            {"id": [d for d, _ in docs], "source": [d.split(":")[0] for d, _ in docs], "text": texts}
        )
    DatasetDict(dataset).save_to_disk(str(out / "dataset"))
    compressed = sum(s["token_file_bytes"] for s in description["splits"].values())
    if compressed > MAX_COMPRESSED_BYTES:
        raise ValueError(f"The token files take {compressed} bytes, more than {MAX_COMPRESSED_BYTES}.")
    description["seconds"] = round(time.perf_counter() - start, 1)
    (out / "corpus.json").write_text(json.dumps(description, indent=2) + "\n")
    return description


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["build"])
    parser.add_argument("--out", default="outputs/corpus", help="output folder (default outputs/corpus)")
    parser.add_argument("--cache", default=None, help="where the .deb files are downloaded (default OUT/debs)")
    parser.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary (default 16384; tiny 512)")
    parser.add_argument("--tiny", action="store_true", help="the shipped WordNet entries instead of the packages")


def run(args: argparse.Namespace) -> int:
    vocab_size = args.vocab_size or (512 if args.tiny else 16384)
    description = build_corpus(args.out, args.cache, vocab_size, args.tiny)
    for split, info in description["splits"].items():
        print(f"{split}: {info['documents']} documents, {info['tokens']} tokens, {info['token_file_bytes']} bytes")
    print(f"vocabulary {description['vocab_size']}, {description['seconds']} s -> {args.out}")
    return 0
