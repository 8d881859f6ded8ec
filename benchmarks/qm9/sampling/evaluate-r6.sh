#!/usr/bin/env bash
# Sampler study, round 6: where the stochastic sampler spends its 75 steps. The time grid is uniform in t;
# time_shift a < 1 puts more steps near the noise end (t' = a t / (1 + (a - 1) t)), a > 1 near the clean end.
# The issue's diagnostic puts the shipped model's losses in the middle of the flow.
# Usage: [THREADS=2] [SEEDS="0"] [SHIFTS="0.5 0.7 1.5 2.0"] bash benchmarks/qm9/sampling/evaluate-r6.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=2}" "${M:=unite_mol/pretrained/unite-qm9}" "${SEEDS:=0}" "${SHIFTS:=0.5 0.7 1.5 2.0}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in $SEEDS; do
  specs=()
  for a in $SHIFTS; do specs+=("shift-$a=$M@method=stochastic,noise_level=32.0,steps=75,time_shift=$a"); done
  .venv/bin/python -m unite_mol.bench levers "${specs[@]}" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round6/shift-seed$seed"
done
