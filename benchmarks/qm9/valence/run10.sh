#!/usr/bin/env bash
# Valence guidance round 10: restarts. After the sampler and the final valence steps, each molecule the bond
# head does not call done (guidance's own stopping rule: head graph valid, confident, distances inside EDM's
# windows for it) is noised back to time RESTART_FROM with fresh noise from its own stream and integrated again
# to t = 1 (the sampler's steps over that stretch, nudges and final valence steps included), up to R times.
# Nothing but the model's own outputs decides who restarts. 1,000 samples per arm, one torch thread per arm,
# two arms at a time. Arms are "NAME:R:RESTART_FROM".
# Usage: SEED=0 ARMS="r0:0:0.9 r1:1:0.9" bash benchmarks/qm9/valence/run10.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=1 UNITE_MOL_NO_PROGRESS=1
M=unite_mol/pretrained/unite-qm9
S=${SEED:-0}
PY=${PY:-.venv/bin/python}
arm() {   # arm NAME R FROM
  "$PY" -c "import os, sys
if os.environ.get('PKG'):  # a snapshot of the package to run (the working tree may change meanwhile)
    sys.path.insert(0, os.environ['PKG'])
from unite_mol import generation as g
r, t = int(sys.argv.pop(1)), float(sys.argv.pop(1))
g.generate_samples.__kwdefaults__.update(restarts=r, restart_from=t)
from unite_mol.bench.levers import main
sys.exit(main(sys.argv[1:]))" "$2" "$3" "$1=$M" --samples 1000 --recon 0 --seed "$S" --threads 1 \
    --out "benchmarks/qm9/valence/round10/s$S-$1"
}
set -- ${ARMS:-r0:0:0.9 r1:1:0.9}
while [ $# -gt 0 ]; do
  IFS=: read -r n1 r1 f1 <<< "$1"
  if [ $# -ge 2 ]; then
    IFS=: read -r n2 r2 f2 <<< "$2"
    arm "$n1" "$r1" "$f1" & arm "$n2" "$r2" "$f2"; wait; shift 2
  else arm "$n1" "$r1" "$f1"; shift; fi
done
