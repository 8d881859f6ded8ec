#!/usr/bin/env bash
# Valence guidance, round 4: guidance during sampling costs time; pay for it with fewer sampler steps
# (generate(1000) must stay under 60 s on this CPU). 1,000 samples per row.
# Usage: SEED=0 THREADS=1 bash benchmarks/qm9/valence/run4.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
.venv/bin/python -m unite_mol.bench levers "s50-from0.9-3=$M@steps=50,valence_steps=3,valence_from=0.9" \
  "s50-from0.95-5=$M@steps=50,valence_steps=5,valence_from=0.95" "s40-from0.9-5=$M@steps=40,valence_steps=5,valence_from=0.9" \
  --samples 1000 --recon 0 --seed "$S" --threads "$OMP_NUM_THREADS" --out "benchmarks/qm9/valence/round4-seed$S"
