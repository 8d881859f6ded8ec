#!/usr/bin/env bash
# Sampler study, round 5: more steps for the stochastic sampler (the default was 50 at strength 32): does a
# finer grid of the same SDE (strength 32 at 75 and 100 steps) or a stronger re-draw at 100 steps (64)
# gain enough to pay for the time? generate(1000) must stay under 60 s on this CPU.
# Usage: [THREADS=2] [SEEDS="0"] bash benchmarks/qm9/sampling/evaluate-r5.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=2}" "${M:=unite_mol/pretrained/unite-qm9}" "${SEEDS:=0}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in $SEEDS; do
  .venv/bin/python -m unite_mol.bench levers \
    "ou-32-75=$M@method=stochastic,noise_level=32.0,steps=75" "ou-32-100=$M@method=stochastic,noise_level=32.0,steps=100" \
    "ou-64-100=$M@method=stochastic,noise_level=64.0,steps=100" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round5/seed$seed"
done
