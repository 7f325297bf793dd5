#!/usr/bin/env bash
# The oldest supported Transformers/PEFT (pyproject.toml's lower bounds) in a venv of its own: the model contract,
# the designs and conversion. scripts/test.sh runs the whole suite at the newest versions.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-oldest
bash scripts/make_venv.sh $VENV
$VENV/bin/python -m pip install -q "transformers==5.17.0" "peft==0.18.0" -e ".[test]"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
$VENV/bin/python -c "import transformers, peft; print('oldest supported: transformers', transformers.__version__, 'peft', peft.__version__)"
exec $VENV/bin/python -m pytest -q -n "${HF_ARCHS_TEST_WORKERS:-auto}" --dist worksteal -m "not slow" tests/models \
    tests/designs tests/conversion "$@"
