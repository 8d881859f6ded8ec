#!/usr/bin/env bash
# Valence guidance arms on the shipped model: 1,000 samples per arm, one torch thread per arm, two arms at a
# time (the harness of rounds 10-11). Arms are NAME=KEYS with KEYS generate() keywords as `bench levers`
# reads them, or "NAME=config=ARM.json" for a SamplerConfig file; by default every arm of arms.json.
# The current result (round 11's default, seeds 0-4, and restarts=1, seeds 0-2) ran as
#   SEED=S ARMS="st= st-r1=restarts=1" bash benchmarks/qm9/valence/run.sh     (S = 0 .. 4; st-r1 for 0-2)
# Usage: [SEED=0] [ARMS="NAME=KEYS ..."] [OUT=runs/valence] bash benchmarks/qm9/valence/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
if [ -z "${ARMS:-}" ]; then
  ARMS=$(.venv/bin/python -c "import json; print(' '.join(f'{k}={v}' for k, v in json.load(open('benchmarks/qm9/valence/arms.json')).items() if not k.startswith('_')))")
fi
arm() { local name=${1%%=*} keys=${1#*=}
  .venv/bin/python -m unite_mol.bench levers "$name=$M${keys:+@$keys}" --samples 1000 --recon 0 \
    --seed "$S" --threads 1 --out "${OUT:-runs/valence}/s$S-$name"; }
set -- $ARMS
while [ $# -gt 0 ]; do
  if [ $# -ge 2 ]; then arm "$1" & arm "$2"; wait; shift 2; else arm "$1"; shift; fi
done
