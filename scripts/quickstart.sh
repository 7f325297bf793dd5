#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job: MiniLM -> semantic_bert, verify, LoRA fine-tune, report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/hf-archs quickstart "$@"
