#!/usr/bin/env bash
# Every matched-budget measurement of resonant attention (hybrid and pure vs stock), resumable: a rerun loads the
# finished (seed, role) records and trains only the missing ones. Run from the repository root:
#
#     bash benchmarks/resonant_measurements.sh [minilm|gemma|all]
#
# MiniLM runs use the `laptop` budget, Gemma-3-270m the `gemma3-cpu` budget;
# on a GPU machine the same commands run on CUDA (the harness picks it). Cards are regenerated from the results.
# TRANSFER_STEPS (default 10) is the attention-transfer budget of the pure conversions.
set -euo pipefail
what="${1:-all}"
hf() { python -m hf_archs.cli "$@"; }
convert() {  # convert DESIGN SOURCE OUT [--set ...]: skipped when OUT exists
    local design=$1 source=$2 out=$3
    shift 3
    [ -f "$out/config.json" ] || hf convert --design "$design" --from "$source" --out "$out" \
        --set resonant_quaternion='"squared"' "$@"
}

if [ "$what" = minilm ] || [ "$what" = all ]; then
    stock=outputs/minilm/all-MiniLM-L6-v2
    [ -f "$stock/config.json" ] || python -c "import all_minilm_l6_v2; all_minilm_l6_v2.extract_model('outputs/minilm')"
    convert resonant "$stock" outputs/minilm-resonant
    convert resonant_pure "$stock" outputs/minilm-resonant-pure --set resonant_transfer_steps="${TRANSFER_STEPS:-10}"
    card=model_cards/resonant_bert.md
    hf compare --design outputs/minilm-resonant --stock "$stock" --task retrieval --budget laptop --out results \
        --name minilm-resonant --card "$card"
    hf compare --design outputs/minilm-resonant --stock "$stock" --task analogy --budget laptop --out results \
        --name minilm-resonant-analogy --card "$card"
    hf compare --design outputs/minilm-resonant-pure --stock "$stock" --task retrieval --budget laptop --out results \
        --name minilm-resonant-pure --card "$card"
    hf compare --design outputs/minilm-resonant-pure --stock "$stock" --task analogy --budget laptop --out results \
        --name minilm-resonant-pure-analogy --card "$card"
fi

if [ "$what" = gemma ] || [ "$what" = all ]; then
    stock=$(python -c "from hf_archs.conversion.gguf import gemma3_270m; print(gemma3_270m())" | tail -n 1)
    convert resonant "$stock" outputs/gemma-resonant
    convert resonant_pure "$stock" outputs/gemma-resonant-pure --set resonant_transfer_steps="${TRANSFER_STEPS:-10}"
    for design in resonant resonant-pure; do
        hf compare --design "outputs/gemma-$design" --stock "$stock" --task perplexity \
            --budget gemma3-cpu --out results --name "gemma-3-270m-$design"
    done
fi
