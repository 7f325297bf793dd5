#!/usr/bin/env bash
# Saved checkpoints on the newest Transformers release, through trust_remote_code, where hf_archs is not installed:
# .venv (hf_archs) saves a tiny checkpoint of every model type with its forward as reference outputs
# (tests/conformance/save_zoo.py); .venv-remote (torch + the newest transformers only) loads each from its own code
# and checks the forward and generation against recompute (tests/conformance/remote_code.py). A release outside the
# tested range (pyproject.toml) must be refused at load instead. scripts/test.sh runs this unless
# HF_ARCHS_SKIP_REMOTE_NEWEST=1.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-remote
bash scripts/make_venv.sh $VENV
$VENV/bin/python -m pip install -q --upgrade transformers
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if $VENV/bin/python -m pip show -q hf-archs >/dev/null 2>&1; then
    echo "$VENV must not have hf_archs installed" >&2
    exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m tests.conformance.save_zoo "$WORK"
$VENV/bin/python -m tests.conformance.remote_code "$WORK"
