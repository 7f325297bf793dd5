#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, run the whole test suite on CPU at the newest supported Transformers/PEFT (the
# default tier, `-m "not slow"`, then the slow tier, each spread over the cores by pytest-xdist), then
# saved checkpoints through trust_remote_code on the newest Transformers release without hf_archs
# (scripts/test_remote_code_newest.sh; skip with HF_ARCHS_SKIP_REMOTE_NEWEST=1), then the contract at the oldest
# supported ones (scripts/test_oldest.sh; skip with HF_ARCHS_SKIP_OLDEST=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers ([tool.importlinter] in pyproject.toml): designs never import conversion, training or evaluation.
.venv/bin/lint-imports --no-cache --no-logo
# Every measured number in README.md and model_cards/ comes from a stored record or a committed log.
.venv/bin/python scripts/check_card_numbers.py
# HF_ARCHS_TEST_WORKERS=0 runs in one process. Tests go to whichever worker is free (one large module would
# otherwise load one worker); the checkpoints they share are built once (tests/conftest.py).
tier() {
    local name=$1 start=$SECONDS
    shift
    # Exit status 5: the selection holds no test of this tier.
    .venv/bin/python -m pytest -q -n "${HF_ARCHS_TEST_WORKERS:-auto}" --dist worksteal "$@" || [ $? -eq 5 ]
    echo "test tier ${name}: $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
}
tier default -m "not slow" "$@"
tier slow -m slow "$@"
if [ -z "${HF_ARCHS_SKIP_REMOTE_NEWEST:-}" ]; then
    bash scripts/test_remote_code_newest.sh
fi
if [ -z "${HF_ARCHS_SKIP_OLDEST:-}" ]; then
    bash scripts/test_oldest.sh
fi
