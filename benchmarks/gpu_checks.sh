#!/usr/bin/env bash
# The checks that only a GPU runs, as device calls of at most 10 minutes each (`device` tool, see
# /work/.library/device/README.md). From the repository root on the GPU machine, the wheels of `.whl/` carried along
# (pytest, peft, datasets, sentence-transformers: the machine has torch, transformers, triton and accelerate):
#
#     run(command="bash benchmarks/gpu_checks.sh tests", carry=[".whl"])   # ~5 min: every CUDA test, junit XML
#     run(command="bash benchmarks/gpu_checks.sh speed", carry=[".whl"])   # ≤ 8 min: the missing speed rows
#
# Both write under $OUT (the device call's folder), named by the GPU; commit them to benchmarks/results/ at once.
# `speed` resumes the committed attention_speed_<gpu>.json: it measures only the rows that file lacks (new variants,
# rows skipped on the CPU) and keeps the rest.
set -uo pipefail
what="${1:?usage: gpu_checks.sh tests|speed}"
out="${OUT:-/tmp/gpu_checks}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
gpu=$(python3 -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '_'))")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt"
python3 -c "import torch, transformers, triton; print(torch.__version__, transformers.__version__, triton.__version__)" \
    >> "$out/gpu.txt"
git rev-parse HEAD >> "$out/gpu.txt" 2> /dev/null || true

case "$what" in
tests)
    # The contract on CUDA, each kernel's GPU grid (outputs and every gradient against float64), flex attention's
    # gradients for the mask-only designs. The sm_90 compile tests need no GPU and run in CI's slow tier.
    timeout 560 python3 -m pytest -q -p no:cacheprovider -m "slow or not slow" -k "not compile_for_hopper" \
        --junitxml="$out/gpu_tests_$gpu.xml" -o junit_family=xunit1 \
        tests/models/test_gpu.py tests/designs/oscillating/test_gpu.py \
        tests/designs/semantic/test_kernel.py tests/designs/positional/test_kernel.py \
        tests/designs/resonant/test_kernel.py 2>&1 | tail -n 60 | tee "$out/gpu_tests_$gpu.txt"
    ;;
speed)
    cp "benchmarks/results/attention_speed_$gpu.json" "$out/" 2> /dev/null || true
    python3 benchmarks/attention_speed.py --resume --max-seconds 420 --out "$out" 2>&1 | tail -n 80 |
        tee "$out/attention_speed_$gpu.log"
    ;;
*)
    echo "usage: gpu_checks.sh tests|speed" >&2
    exit 2
    ;;
esac
