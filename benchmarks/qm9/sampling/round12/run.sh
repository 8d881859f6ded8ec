#!/usr/bin/env bash
# Sampler round 12: the stochastic sampler's noise strength on the element-conditioned shipped model
# (round 4 chose 32 on the previous model; long-run-3's 500-sample check favoured 64 on this one).
# 1,000 samples per row, seeds 0 and 1. Usage: bash benchmarks/qm9/sampling/round12/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
.venv/bin/python -m unite_mol.bench levers "noise-64=$M@noise_level=64" "noise-128=$M@noise_level=128" \
  --samples 1000 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out benchmarks/qm9/sampling/round12/seed0
.venv/bin/python -m unite_mol.bench levers "noise-32=$M@noise_level=32" "noise-64=$M@noise_level=64" \
  "noise-128=$M@noise_level=128" --samples 1000 --recon 0 --seed 1 --threads "$OMP_NUM_THREADS" \
  --out benchmarks/qm9/sampling/round12/seed1
