#!/usr/bin/env bash
# Score round 2's arms with one command: 1,000 samples per model at generate()'s defaults (25 Heun steps,
# seed 0), 500 test molecules for reconstruction, the shipped model they started from in the same
# harness; then the generation diagnostic of each (200 test molecules, 300 samples) with the middle of
# the flow resolved (t = 0.6, 0.4, 0.3 added).
# A diagnostic already in $OUT/diagnose/ARM is kept (not re-run).
# Usage: [ARMS="E F G"] [RUNS=runs] [THREADS=2] bash benchmarks/qm9/levers-r2/evaluate.sh
cd "$(dirname "$0")/../../.."
: "${ARMS:=E F G}" "${RUNS:=runs}" "${OUT:=benchmarks/qm9/levers-r2}" "${THREADS:=2}"
export OMP_NUM_THREADS=$THREADS UNITE_MOL_NO_PROGRESS=1
args=(start=unite_mol/pretrained/unite-qm9)
for a in $ARMS; do args+=("$a=$RUNS/r2-$a/model"); done
.venv/bin/python -m unite_mol.bench levers "${args[@]}" --samples 1000 --recon 500 --seed 0 --threads "$THREADS" --out "$OUT"
for a in start $ARMS; do
  m=unite_mol/pretrained/unite-qm9; [ "$a" = start ] || m=$RUNS/r2-$a/model
  [ -f "$OUT/diagnose/$a/results.json" ] && continue
  .venv/bin/python -m unite_mol.bench diagnose --model "$m" --n 200 --samples 300 --threads "$THREADS" \
    --times 1.0,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.0 --out "$OUT/diagnose/$a"
done
