#!/usr/bin/env bash
# Sampler study, round 4: stronger noise re-draw with the exact-step stochastic sampler (round 3 was still
# improving at strength 8): strengths 12, 16, 32, 1000 (about a full re-draw every step), 50 steps,
# seeds 0 and 1.
# Usage: [THREADS=1] bash benchmarks/qm9/sampling/evaluate-r4.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=1}" "${M:=unite_mol/pretrained/unite-qm9}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in 0 1; do
  .venv/bin/python -m unite_mol.bench levers \
    "ou-12=$M@method=stochastic,noise_level=12.0,steps=50" "ou-16=$M@method=stochastic,noise_level=16.0,steps=50" \
    "ou-32=$M@method=stochastic,noise_level=32.0,steps=50" "ou-1000=$M@method=stochastic,noise_level=1000.0,steps=50" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round4/seed$seed"
done
