#!/usr/bin/env bash
# Sampler study, round 9: which self-conditioning estimate a sampling step reads. Training reads a blind
# prediction at the same z_t and t; the default sampler reads the previous step's prediction (one pass per
# step). "this-step" does what training does and "recycle" reads the previous one then its own result (two
# passes each), so 38 of their steps cost what the default's 75 do. Strength 32 throughout.
# Usage: [THREADS=2] [SEEDS="0"] bash benchmarks/qm9/sampling/evaluate-r9.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${THREADS:=2}" "${M:=unite_mol/pretrained/unite-qm9}" "${SEEDS:=0}"
S="method=stochastic,noise_level=32.0"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
for seed in $SEEDS; do
  .venv/bin/python -m unite_mol.bench levers \
    "this-step-38=$M@$S,steps=38,estimate_from=this-step" "recycle-38=$M@$S,steps=38,estimate_from=recycle" \
    "this-step-38-eg1.5=$M@$S,steps=38,estimate_from=this-step,estimate_guidance=1.5" \
    "this-step-75=$M@$S,steps=75,estimate_from=this-step" \
    --samples 1000 --recon 0 --seed "$seed" --threads "$THREADS" --out "benchmarks/qm9/sampling/round9/seed$seed"
done
