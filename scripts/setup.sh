#!/usr/bin/env bash
# Create .venv with hf-archs and what its tests and recipes need (CPU torch; nothing from the Hugging Face Hub).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/make_venv.sh .venv
.venv/bin/python -m pip install -q -e ".[test,plots]"
