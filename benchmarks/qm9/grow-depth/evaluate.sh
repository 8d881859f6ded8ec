#!/usr/bin/env bash
# Score the depth study's arms (launch.sh) and the shipped model they started from, at generate()'s
# defaults (75 stochastic steps, strength 32), 1,000 samples, reconstruction on 500 test molecules.
# Usage: [SEED=0] [TAG=seed0] [THREADS=2] bash benchmarks/qm9/grow-depth/evaluate.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${SEED:=0}" "${TAG:=seed0}" "${THREADS:=2}" "${GROW:=runs/grow-grow}" "${CONTROL:=runs/grow-control}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
.venv/bin/python -m unite_mol.bench levers "grow=$GROW/model" "control=$CONTROL/model" \
  --samples 1000 --recon 500 --seed "$SEED" --threads "$THREADS" --out "benchmarks/qm9/grow-depth/$TAG"
