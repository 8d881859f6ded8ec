#!/usr/bin/env bash
# The long run with the lever study's recipe, continuing from a saved model (first: the winning arm;
# a later session continues from the shipped model the same way: INIT=unite_mol/pretrained/unite-qm9).
# Usage: INIT=path/to/model BUDGET=80m RUN=runs/long bash benchmarks/qm9/long-run/launch.sh
cd "$(dirname "$0")/../../.."
: "${INIT:?set INIT to the model to continue from}" "${BUDGET:=80m}" "${RUN:=runs/long}" "${EXTRA:=}"
export OMP_NUM_THREADS=${THREADS:-2} UNITE_MOL_NO_PROGRESS=1
exec .venv/bin/python -m unite_mol.train --run-dir "$RUN" --init-from "$INIT" \
  --lr 1e-4 --warmup 20 --lr-schedule cosine-budget --budget "$BUDGET" --seed 0 \
  --ckpt-every 250 --log-every 25 --snapshots \
  --refine-layers 3 --local-weight 0.02 --bond-head --refiner-lr-mult 10 $EXTRA
