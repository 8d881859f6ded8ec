#!/usr/bin/env bash
# Valence guidance, after round 6: more nudges (from t >= 0.88 / 0.85 instead of 0.9) at the new default,
# two seeds, 1,000 samples, one thread per arm (two at a time).
# Usage: SEED=0 bash benchmarks/qm9/valence/run7.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
.venv/bin/python -m unite_mol.bench levers "from0.88=$M@valence_from=0.88" "from0.85=$M@valence_from=0.85" \
  --samples 1000 --recon 0 --seed "$S" --threads 1 --out "benchmarks/qm9/valence/round7-seed$S"
