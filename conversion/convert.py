#!/usr/bin/env python
"""Convert a stock checkpoint into a zoo design (same as `hf-archs convert`).

    python conversion/convert.py --design semantic --from ./all-MiniLM-L6-v2 --out ./minilm-semantic [--force]

The converted folder is verified against the source (max |Δ| printed) before it is written; see
`hf_archs.conversion.convert` for the Python API.
"""

import sys

from hf_archs.cli import main


if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
