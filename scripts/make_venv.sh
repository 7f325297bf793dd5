#!/usr/bin/env bash
# make_venv.sh DIR: a virtual environment at DIR (made with $PYTHON, default python3) holding the CPU build of torch;
# the scripts that need one (setup.sh, test_oldest.sh, test_remote_code_newest.sh) then add their own packages.
set -euo pipefail
VENV=$1
if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# The CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
