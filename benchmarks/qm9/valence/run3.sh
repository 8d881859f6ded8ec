#!/usr/bin/env bash
# Valence guidance, round 3: also on the sampler's last predictions (valence_from < 1: the next step denoises
# from the guided estimate), against guidance of the finished latent alone (round 1/2's default, 10 steps).
# 1,000 samples per row. Usage: SEED=0 THREADS=1 bash benchmarks/qm9/valence/run3.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
.venv/bin/python -m unite_mol.bench levers "end-10=$M@valence_steps=10" \
  "from0.95-5=$M@valence_steps=5,valence_from=0.95" "from0.97-5=$M@valence_steps=5,valence_from=0.97" \
  "from0.9-5=$M@valence_steps=5,valence_from=0.9" "from0.95-10=$M@valence_steps=10,valence_from=0.95" \
  --samples 1000 --recon 0 --seed "$S" --threads "$OMP_NUM_THREADS" --out "benchmarks/qm9/valence/round3-seed$S"
