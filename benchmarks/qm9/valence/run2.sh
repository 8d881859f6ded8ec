#!/usr/bin/env bash
# Valence guidance, round 2: a second sampling seed, and fewer sampler steps to pay for it (generate(1000)
# must stay under 60 s), and with autoguidance. 1,000 samples per row.
# Usage: SEED=1 THREADS=1 bash benchmarks/qm9/valence/run2.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-1}
.venv/bin/python -m unite_mol.bench levers "off=$M@valence_steps=0" "valence-10=$M@valence_steps=10" \
  "valence-20=$M@valence_steps=20" "steps60-valence-20=$M@steps=60,valence_steps=20" \
  "steps50-valence-20=$M@steps=50,valence_steps=20" "guide-valence-10=$M@guide=auto,valence_steps=10" \
  --samples 1000 --recon 0 --seed "$S" --threads "$OMP_NUM_THREADS" --out "benchmarks/qm9/valence/round2-seed$S"
