#!/usr/bin/env bash
# Valence guidance (generate(valence_steps=...)): after the sampler, each molecule's latent moves until the
# model's own bond head gives every atom its valence. The shipped model, 1,000 samples per row, seed S.
# Usage: SEED=0 THREADS=1 bash benchmarks/qm9/valence/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
.venv/bin/python -m unite_mol.bench levers "off=$M@valence_steps=0" "valence-10=$M@valence_steps=10" \
  "valence-20=$M@valence_steps=20" "valence-30=$M@valence_steps=30" \
  --samples 1000 --recon 0 --seed "$S" --threads "$OMP_NUM_THREADS" --out "benchmarks/qm9/valence/seed$S"
