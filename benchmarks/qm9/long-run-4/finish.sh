#!/usr/bin/env bash
# After the fourth long run (the shipped model continued with its own recipe, seed 3, one torch thread,
# 140-minute budget): training record, a learning curve over its snapshots and the final model against the
# shipped one, both at generate()'s defaults (valence guidance on). Shipping is a separate decision.
# Usage: [THREADS=2] bash benchmarks/qm9/long-run-4/finish.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
PY=.venv/bin/python
OUT=benchmarks/qm9/long-run-4
SHIPPED=unite_mol/pretrained/unite-qm9
$PY -m unite_mol.bench run runs/long4 $OUT/record --command \
  "INIT=unite_mol/pretrained/unite-qm9 BUDGET=140m RUN=runs/long4 THREADS=1 EXTRA='--self-cond --new-input-lr-mult 10 --element-cond --seed 3' bash benchmarks/qm9/long-run/launch.sh"
$PY -m unite_mol.bench levers shipped=$SHIPPED final=runs/long4/model --samples 1000 --recon 0 --seed 0 \
  --threads "$OMP_NUM_THREADS" --out $OUT/final
# learning curve: cumulative minutes = 379 (the shipped model) + this run
args=("379min=$SHIPPED")
for js in runs/long4/snapshots/model-0001000.json runs/long4/snapshots/model-0002000.json runs/long4/snapshots/model-0003000.json; do
  [ -f "$js" ] || continue
  m=$($PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['training']['elapsed_s']/60+379))" "$js")
  args+=("${m}min=${js%.json}")
done
$PY -m unite_mol.bench levers "${args[@]}" --samples 400 --recon 0 --seed 0 --threads "$OMP_NUM_THREADS" --out $OUT/curve
