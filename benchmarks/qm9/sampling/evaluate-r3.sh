#!/usr/bin/env bash
# Sampler study, round 3: the stochastic sampler with each step's noise part solved exactly (the
# Euler-Maruyama steps of rounds 1-2 blew up at strength 8), strengths 1-8, 50 steps (the cost of 25 Heun
# steps), and strength 4 at 25 steps; seeds 0 and 1 (two folders), beside generate()'s old default.
# Usage: [THREADS=1] bash benchmarks/qm9/sampling/evaluate-r3.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=1}" "${M:=unite_mol/pretrained/unite-qm9}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in 0 1; do
  .venv/bin/python -m unite_mol.bench levers "heun-25=$M@method=heun,steps=25" \
    "ou-1=$M@method=stochastic,noise_level=1.0,steps=50" "ou-2=$M@method=stochastic,noise_level=2.0,steps=50" \
    "ou-4=$M@method=stochastic,noise_level=4.0,steps=50" "ou-8=$M@method=stochastic,noise_level=8.0,steps=50" \
    "ou-4-25=$M@method=stochastic,noise_level=4.0,steps=25" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round3/seed$seed"
done
