#!/usr/bin/env bash
# After a long run that is to be shipped (as run after the third long run, the element-conditioned arm of
# ../levers/, seed 0, continued): training record, learning curve, export as the shipped model, make demo's
# benchmark, the final model with and without MMFF side by side, the sampler and guide checked on the new model,
# failure classes, usable molecules, sample drawings. Writes under $OUT (the third long run wrote to
# benchmarks/qm9/long-run-3 at 99eebac; collapse its rows into results.csv with benchmarks/collapse.py).
# Usage: [THREADS=2] [OUT=runs/long-element-report] bash benchmarks/qm9/training/finish.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
PY=.venv/bin/python
OUT=${OUT:-runs/long-element-report}
SHIPPED=unite_mol/pretrained/unite-qm9
$PY -m unite_mol.bench run runs/long-element $OUT/record --command \
  "INIT=runs/grow-element/model BUDGET=80m RUN=runs/long-element THREADS=2 EXTRA='--self-cond --new-input-lr-mult 10 --element-cond' bash benchmarks/qm9/training/launch.sh"
# learning curve: cumulative minutes = 254 (the previous shipped model) + 45 (the element arm) + this run
args=("299min=runs/grow-element/model")
for js in runs/long-element/snapshots/model-*.json; do
  m=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(round((d['training']['elapsed_s']+254*60+2702)/60))" "$js")
  args+=("${m}min=${js%.json}")
done
$PY -m unite_mol.bench levers "${args[@]}" --samples 400 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out $OUT/curve
$PY -m unite_mol export runs/long-element/model $SHIPPED --float16
$PY -m unite_mol.bench qm9 --out benchmarks/qm9/pretrained
$PY -m unite_mol.bench levers shipped=$SHIPPED --samples 1000 --recon 0 --relax --threads "$OMP_NUM_THREADS" --out $OUT/final
$PY -m unite_mol.bench levers default=$SHIPPED "guide-auto=$SHIPPED@guide=auto" "noise-16=$SHIPPED@noise_level=16" \
  "noise-64=$SHIPPED@noise_level=64" --samples 500 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out $OUT/sampler
$PY benchmarks/qm9/diagnose/taxonomy.py --model $SHIPPED --out $OUT/failures
$PY benchmarks/qm9/usable.py --n 200 > $OUT/usable.txt
$PY -m unite_mol.bench draw unite_mol/pretrained/samples.png --n 24 --seed 0
$PY benchmarks/qm9/levers/agreement.py $SHIPPED 500 0 > $OUT/agreement.json
