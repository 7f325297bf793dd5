"""Decoders into encoders: one stock decoder checkpoint converted into oscillating base models (no LM head) whose
layers are all causal (the stock function), all bidirectional, or the oscillating cycle, ready for the harness's
encoder tasks (retrieval with mean pooling).

    python -m hf_archs.designs.oscillating.encoders --from <stock decoder folder> --out outputs/gemma-encoders

Each variant goes through `hf-archs convert` (the all-causal one verified against the stock model), then its base
model is saved with the tokenizer. Not imported by the models.
"""

import argparse
import tempfile
from pathlib import Path

import transformers

from ...conversion import convert
from .design import DEFAULT_CYCLE


VARIANTS = {
    "causal": ["forward"],
    "bidirectional": ["bidirectional"],
    "oscillating": list(DEFAULT_CYCLE),
}


def decoder_to_encoders(source: str, out_dir: Path, variants: dict[str, list[str]] = VARIANTS) -> dict[str, Path]:
    out_dir = Path(out_dir)
    folders = {}
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as tmp:
        for name, patterns in variants.items():
            converted = Path(tmp) / name
            settings = {"oscillating_layer_attention_patterns": patterns}
            convert("oscillating", source, converted, design_settings=settings, verify=patterns == ["forward"])
            model = transformers.AutoModel.from_pretrained(converted)
            folders[name] = out_dir / name
            model.save_pretrained(folders[name])
            tokenizer.save_pretrained(folders[name])
            del model
    return folders


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="stock decoder folder (Llama or Gemma 3)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {list(VARIANTS)}")
    args = parser.parse_args(argv)
    chosen = {name: VARIANTS[name] for name in args.variants.split(",")}
    for name, folder in decoder_to_encoders(args.source, args.out, chosen).items():
        print(name, folder)


if __name__ == "__main__":
    main()
