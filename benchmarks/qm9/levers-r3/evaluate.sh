#!/usr/bin/env bash
# Score round 3: the shipped model and both arms, 1,000 samples each at generate()'s defaults (seed 0),
# 500 test molecules for reconstruction.
# Usage: [RUNS=runs] [THREADS=2] bash benchmarks/qm9/levers-r3/evaluate.sh
cd "$(dirname "$0")/../../.."
: "${RUNS:=runs}" "${OUT:=benchmarks/qm9/levers-r3}" "${THREADS:=2}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
.venv/bin/python -m unite_mol.bench levers start=unite_mol/pretrained/unite-qm9 H="$RUNS/r3-H/model" \
  I="$RUNS/r3-I/model" --samples 1000 --recon 500 --seed 0 --threads "$THREADS" --out "$OUT"
