#!/usr/bin/env bash
# After the second long run (lever round 2's arm F, self-conditioning, continued): training record,
# learning curve, export as the shipped model, make demo's benchmark, the final model with and without
# MMFF side by side, the diagnostic, sample drawings.
# Usage: [THREADS=2] bash benchmarks/qm9/long-run-2/finish.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
PY=.venv/bin/python
OUT=benchmarks/qm9/long-run-2
$PY -m unite_mol.bench run runs/long2 $OUT/record --command \
  "INIT=runs/r2-F/model BUDGET=50m RUN=runs/long2 THREADS=1 EXTRA='--self-cond --new-input-lr-mult 10' bash benchmarks/qm9/long-run/launch.sh"
# learning curve: cumulative minutes = 164 min (the previous shipped model) + 40 min (arm F) + this run
args=("start-204min=runs/r2-F/model")
for js in runs/long2/snapshots/model-*.json; do
  m=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(round((d['training']['elapsed_s']+12258)/60))" "$js")
  args+=("${m}min=${js%.json}")
done
$PY -m unite_mol.bench levers "${args[@]}" --samples 500 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out $OUT/curve
$PY -m unite_mol export runs/long2/model unite_mol/pretrained/unite-qm9 --float16
$PY -m unite_mol.bench qm9 --out benchmarks/qm9/pretrained
$PY -m unite_mol.bench levers shipped=unite_mol/pretrained/unite-qm9 --samples 1000 --recon 0 --relax \
  --threads "$OMP_NUM_THREADS" --out $OUT/final
$PY -m unite_mol.bench diagnose --n 200 --samples 300 --threads "$OMP_NUM_THREADS" \
  --times 1.0,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.0 --out benchmarks/qm9/diagnose/shipped-2026-11-29-b
$PY -m unite_mol.bench draw unite_mol/pretrained/samples.png --n 24 --seed 0
