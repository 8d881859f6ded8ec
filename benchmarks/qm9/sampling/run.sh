#!/usr/bin/env bash
# Sampler settings on the shipped model: each arm is NAME=MODEL@KEY=VALUE,... (generate() keywords, as
# `bench levers` reads them), 1,000 samples per arm, no reconstruction, one seed per call.
# The current result (round 12, the noise strength; commit 860a72a / db43051, AMD EPYC, 2 threads) ran as
#   SEED=0 ARMS="noise-64=M@noise_level=64 noise-128=M@noise_level=128" bash benchmarks/qm9/sampling/run.sh
#   SEED=1 ARMS="noise-32=M@noise_level=32 noise-64=M@noise_level=64 noise-128=M@noise_level=128" bash benchmarks/qm9/sampling/run.sh
# (M stands for MODEL and is replaced below). Results go to $OUT (not committed); copy the rows you keep
# into results.csv / rounds.csv with benchmarks/collapse.py.
# Usage: [SEED=0] [THREADS=2] [MODEL=unite_mol/pretrained/unite-qm9] [OUT=runs/sampling/seed$SEED] ARMS="..." bash benchmarks/qm9/sampling/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
: "${ARMS:?set ARMS to NAME=M@KEY=VALUE,... arms}" "${SEED:=0}" "${MODEL:=unite_mol/pretrained/unite-qm9}"
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
arms=()
for a in $ARMS; do arms+=("${a/=M@/=$MODEL@}"); done
.venv/bin/python -m unite_mol.bench levers "${arms[@]}" --samples 1000 --recon 0 --seed "$SEED" \
  --threads "$OMP_NUM_THREADS" --out "${OUT:-runs/sampling/seed$SEED}"
