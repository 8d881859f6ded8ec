#!/usr/bin/env bash
# Sampler study on the shipped model (issue 10): the same model, 1,000 samples each (seed 0), under
#   default     25 Heun steps (generate()'s default; 49 denoiser calls)
#   sde-A       the stochastic sampler, 50 steps (50 calls, the same cost), noise strength A
#   temp-T      25 Heun steps from starting noise scaled by T
# all scored by bench levers (EDM / Open Babel / predicted-bond protocols in their own columns).
# Usage: [THREADS=2] [MODEL=unite_mol/pretrained/unite-qm9] [OUT=benchmarks/qm9/sampling] bash benchmarks/qm9/sampling/evaluate.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=2}" "${MODEL:=unite_mol/pretrained/unite-qm9}" "${OUT:=benchmarks/qm9/sampling}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
M=$MODEL
.venv/bin/python -m unite_mol.bench levers "default=$M" \
  "sde-0.25=$M@method=stochastic,noise_level=0.25,steps=50" \
  "sde-0.5=$M@method=stochastic,noise_level=0.5,steps=50" \
  "sde-1=$M@method=stochastic,noise_level=1.0,steps=50" \
  "sde-2=$M@method=stochastic,noise_level=2.0,steps=50" \
  "euler-50=$M@method=euler,steps=50" \
  "temp-0.9=$M@temperature=0.9" "temp-0.8=$M@temperature=0.8" \
  --samples 1000 --recon 0 --seed 0 --threads "$THREADS" --out "$OUT"
