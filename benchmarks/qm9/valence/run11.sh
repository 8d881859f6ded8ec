#!/usr/bin/env bash
# Valence guidance round 11 (after round 10's restarts): valence_error counts aromatic systems in their kekulé
# structure too (furan's oxygen valid; cyclopentadienyl not), "kv"; and cheaper restarts. generate() keywords
# per arm ("NAME=KEYS", KEYS as bench levers' spec). 1,000 samples per arm, one torch thread, two arms at a time.
# Usage: SEED=0 ARMS="kv= kv-r1-from0.95=restarts=1,restart_from=0.95" bash benchmarks/qm9/valence/run11.sh
# (ROUND=10 writes to round10/, as run10.sh does.) An arm is sampler settings or a SamplerConfig JSON file:
# "r1=config=arms/r1.json" (arm.py, which patched function defaults, is gone: experiments are config files).
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
arm() { local name=${1%%=*} keys=${1#*=}
  .venv/bin/python -m unite_mol.bench levers "$name=$M${keys:+@$keys}" --samples 1000 --recon 0 \
    --seed "$S" --threads 1 --out "benchmarks/qm9/valence/round${ROUND:-11}/s$S-$name"; }
set -- ${ARMS:?}
while [ $# -gt 0 ]; do
  if [ $# -ge 2 ]; then arm "$1" & arm "$2"; wait; shift 2; else arm "$1"; shift; fi
done
